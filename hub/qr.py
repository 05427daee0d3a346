"""QR codes for the lobby screens (segno), fast enough to make one for every greeting.

Left to itself, segno chooses the mask by drawing the symbol with each of the eight masks and
scoring them (ISO/IEC 18004:2015, 7.8.3): about 25 ms in pure Python for a greeting's link. The
code follows its card to the screens (``greeting-qr``, :mod:`hub.web.screens`), but a card
arriving meanwhile waits for it. Every mask makes a valid
code that every reader decodes; the scoring only avoids patterns that might trouble a poor
scanner. A greeting's code is shown large, on a screen, with its quiet zone, to a phone held at
arm's length: a fixed mask does, and segno then encodes in a few milliseconds.

A screen is sent the modules, not a picture (:func:`qr_modules`): a version 5 code is 37 × 37
modules, 172 bytes packed (232 in base64) where its SVG is 2.4 kB, and the page draws them as
SVG itself (``screen.js``). Every screen of a site is sent each code: smaller is cheaper for
the hub, the network and the screens.
"""

from __future__ import annotations

import base64

import segno

MASK = 0  # (row + column) mod 2: a checkerboard over the data, the pattern the spec numbers 000
ERROR_LEVEL = "m"  # 15 % of the code may be hidden or blurred (a reflection on the screen)


def qr_code(url: str) -> segno.QRCode:
    """The code of *url*: the smallest version that holds it, at level M, with mask 0."""
    return segno.make(url, error=ERROR_LEVEL, micro=False, mask=MASK, boost_error=False)


_BITS = bytes.maketrans(b"\x00\x01", b"01")


def qr_modules(url: str) -> tuple[int, str]:
    """The code of *url* as (modules per side, the modules in base64): row by row from the top
    left, 8 to a byte, the first in the high bit, 1 for dark; no quiet zone (the page adds it)."""
    code = qr_code(url)
    size = len(code.matrix)
    bits = b"".join(code.matrix).translate(_BITS)
    bits += b"0" * (-len(bits) % 8)
    packed = int(bits, 2).to_bytes(len(bits) // 8, "big")
    return size, base64.b64encode(packed).decode("ascii")
