"""QR codes for the lobby screens: exactly what segno makes (modules, mask, SVG), only faster."""

from __future__ import annotations

import random
import string

import segno

from hub.qr import qr_matrix, qr_svg

ALPHABET = string.ascii_letters + string.digits + "-_.~"


def reference(link: str) -> segno.QRCode:
    return segno.make(link, error="m", micro=False)


def test_same_code_as_segno_for_links_of_every_size_and_mask() -> None:
    rnd = random.Random(20261126)
    links = [
        "https://vivant.example.org/rsvp/"
        + "".join(rnd.choice(ALPHABET) for _ in range(rnd.randint(1, 320)))
        for _ in range(100)
    ]
    links += ["https://vivant.example.org/rsvp/é", "x"]
    masks: set[int] = set()
    versions: set[int] = set()
    for link in links:
        code = reference(link)
        assert [bytes(row) for row in qr_matrix(link)] == [bytes(row) for row in code.matrix]
        svg = code.svg_inline(border=0, omitsize=True, dark="#000", svgclass="qr-code")
        assert qr_svg(link) == svg
        masks.add(code.mask)
        versions.add(int(code.version))
    # Every mask won somewhere, and sizes with and without version information were drawn.
    assert masks == set(range(8))
    assert min(versions) < 7 <= max(versions)
