"""The layout rules, enforced: edge never imports hub; the contract imports neither.

Only the CLI layer (``vivant/cli.py``, ``vivant/broker/cli.py`` and the demo) may bring edge and
hub together, and it does so lazily, inside the subcommand that needs them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI_LAYER = {
    ROOT / "vivant" / "cli.py",
    ROOT / "vivant" / "broker" / "cli.py",
    *(ROOT / "vivant" / "demo").rglob("*.py"),
}


def imported_packages(path: Path) -> set[str]:
    """Top-level package names *path* imports."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("edge", {"hub"}), ("hub", {"edge"}), ("vivant", {"edge", "hub"})],
)
def test_package_does_not_import(package: str, forbidden: set[str]) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_packages(path) & forbidden)
        for path in (ROOT / package).rglob("*.py")
        if path not in CLI_LAYER and imported_packages(path) & forbidden
    }
    assert offenders == {}


@pytest.mark.parametrize("cli", ["cli.py", "broker/cli.py"])
def test_cli_imports_edge_and_hub_only_inside_functions(cli: str) -> None:
    tree = ast.parse((ROOT / "vivant" / cli).read_text(encoding="utf-8"))
    top_level = {
        (node.module or "").split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)
    } | {
        alias.name.split(".")[0]
        for node in tree.body
        if isinstance(node, ast.Import)
        for alias in node.names
    }
    assert not top_level & {"edge", "hub"}
