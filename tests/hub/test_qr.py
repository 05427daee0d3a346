"""QR codes for the lobby screens: segno's code of the link, with the fixed mask, as modules."""

from __future__ import annotations

import base64

import segno

from hub.qr import MASK, qr_code, qr_modules

LINK = "https://vivant.example.org/rsvp/ekilibre/42?t=" + "AbC-_9" * 12


def test_the_code_holds_the_link_at_level_m_with_the_fixed_mask() -> None:
    code = qr_code(LINK)
    assert code.mask == MASK
    assert code.error == "M"
    assert not code.is_micro
    # The same symbol segno makes when told the mask: only the choice of the mask was skipped.
    reference = segno.make(LINK, error="m", micro=False, mask=MASK, boost_error=False)
    assert [bytes(r) for r in code.matrix] == [bytes(r) for r in reference.matrix]
    # Left to choose, segno picks the smallest version too: the fixed mask costs no size.
    assert code.version == segno.make(LINK, error="m", micro=False, boost_error=False).version


def test_longer_links_get_larger_symbols_and_every_module_is_sent() -> None:
    short, long = qr_code("https://h/r/1"), qr_code(LINK * 3)
    assert long.symbol_size(border=0)[0] > short.symbol_size(border=0)[0]
    size, modules = qr_modules(LINK)
    code = qr_code(LINK)
    assert size == code.symbol_size(border=0)[0]
    packed = base64.b64decode(modules, validate=True)
    assert len(packed) == (size * size + 7) // 8
    bits = "".join(f"{byte:08b}" for byte in packed)
    rows = [bits[row * size : (row + 1) * size] for row in range(size)]
    assert rows == ["".join(str(module) for module in row) for row in code.matrix]
    assert bits[size * size :] == "0" * (len(bits) - size * size)  # padding is light
    assert "vivant" not in modules  # the link is in the modules, not in the text
