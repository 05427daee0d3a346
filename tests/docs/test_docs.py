"""The role guides in docs/: links that lead somewhere, and the screen pictures they promise."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
GUIDES = ["install.md", "staff.md", "manager.md"]
# Copied from the browser tests' screenshots (test-artifacts/, French, 1920×1080).
PICTURES = {"img/lobby-idle.png", "img/lobby-greeting.png", "img/staff.png", "img/insights.png"}
PICTURE_MAX_BYTES = 400_000
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")


@pytest.mark.parametrize("guide", GUIDES)
def test_relative_links_lead_to_files(guide: str) -> None:
    for target in LINK.findall((DOCS / guide).read_text(encoding="utf-8")):
        if re.match(r"[a-z]+://", target) or target.startswith("#"):
            continue
        path = target.split("#", 1)[0]
        assert (DOCS / path).resolve().exists(), f"{guide}: {target}"


def test_the_guides_show_every_screen() -> None:
    used = {
        target
        for guide in GUIDES
        for target in LINK.findall((DOCS / guide).read_text(encoding="utf-8"))
        if target.startswith("img/")
    }
    assert used == PICTURES


@pytest.mark.parametrize("picture", sorted(PICTURES))
def test_pictures_are_full_hd_png_of_reasonable_size(picture: str) -> None:
    data = (DOCS / picture).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # The IHDR chunk comes first: width and height, big-endian, at bytes 16-24.
    assert (int.from_bytes(data[16:20]), int.from_bytes(data[20:24])) == (1920, 1080)
    assert len(data) < PICTURE_MAX_BYTES


def test_install_guide_anchor_used_by_deploy_readme_exists() -> None:
    install = (DOCS / "install.md").read_text(encoding="utf-8")
    assert "## Backups and restore" in install
    assert "docs/install.md#backups-and-restore" in (ROOT / "deploy" / "README.md").read_text(
        encoding="utf-8"
    )
