"""Every example node configuration in firmware-config/nodes passes ``vivant edge check-config``."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from edge.config import load_edge_config
from edge.main import EXIT_OK, check_config
from vivant.demo.population import SITES

NODES = Path(__file__).resolve().parents[2] / "firmware-config" / "nodes"
FILES = sorted(NODES.rglob("*.yaml"))
SECRET = "0123456789abcdef0123456789abcdef"  # 32 hex digits: a valid key, IRK and password


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``{env: NAME}`` of the examples, as /etc/vivant/edge.env would provide it."""
    for path in FILES:
        for name in re.findall(r"\{env: ([A-Z0-9_]+)\}", path.read_text(encoding="utf-8")):
            monkeypatch.setenv(name, SECRET)


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(NODES)) for p in FILES])
def test_example_passes_check_config(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert check_config(path) == EXIT_OK, capsys.readouterr().err
    assert capsys.readouterr().out == "ok\n"
    config = load_edge_config(path)
    assert path.parent.name == config.site
    assert path.stem == config.node


def test_every_room_of_the_demo_sites_has_a_node() -> None:
    served: dict[str, list[str]] = {}
    for path in FILES:
        config = load_edge_config(path)
        served.setdefault(config.site, []).extend(config.rooms)
    expected = {site.id: sorted(room[0] for room in site.rooms) for site in SITES}
    assert {site: sorted(rooms) for site, rooms in served.items()} == expected
