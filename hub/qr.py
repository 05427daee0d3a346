"""QR codes for the lobby screens (segno), fast enough to draw one for every greeting.

Left to itself, segno chooses the mask by drawing the symbol with each of the eight masks and
scoring them (ISO/IEC 18004:2015, 7.8.3): about 25 ms in pure Python for a greeting's link, most
of the time between a badge tap and the greeting on the lobby screen. Every mask makes a valid
code that every reader decodes; the scoring only avoids patterns that might trouble a poor
scanner. A greeting's code is shown large, on a screen, with its quiet zone, to a phone held at
arm's length: a fixed mask does, and segno then encodes in a few milliseconds.
"""

from __future__ import annotations

import segno

MASK = 0  # (row + column) mod 2: a checkerboard over the data, the pattern the spec numbers 000
ERROR_LEVEL = "m"  # 15 % of the code may be hidden or blurred (a reflection on the screen)


def qr_code(url: str) -> segno.QRCode:
    """The code of *url*: the smallest version that holds it, at level M, with mask 0."""
    return segno.make(url, error=ERROR_LEVEL, micro=False, mask=MASK, boost_error=False)


def qr_svg(url: str) -> str:
    """The code of *url* as inline SVG (black on transparent, no quiet zone: the page adds it)."""
    code = qr_code(url)
    return str(code.svg_inline(border=0, omitsize=True, dark="#000", svgclass="qr-code"))
