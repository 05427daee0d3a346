"""QR codes for the lobby screens, fast enough to draw one for every greeting.

segno encodes the data, but choosing the mask (ISO/IEC 18004:2015, 7.8.3: try the eight masks,
keep the one with the lowest penalty) costs segno about 25 ms for a greeting's link in pure
Python, with one loop step per module and mask; its SVG writer takes a few more. That was most of
the time between a badge tap and the greeting on the lobby screen. Here segno encodes once with
mask 0, the eight candidates are scored on whole rows and columns held as integers (bit
operations instead of module loops), and the SVG path is written from runs of dark modules.

The result is the very code segno would make: same mask, same modules, same SVG
(``tests/hub/test_qr.py`` compares both on many links). This relies on helpers of
``segno.encoder`` (its function patterns, format information and mask functions), which is why
segno's version is pinned in ``constraints.txt``; that test shows at once if an upgrade moved
them.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import segno
from segno import consts, encoder

# segno.encoder's helpers, typed as this module uses them (segno ships no annotations for them).
_Matrix = tuple[bytearray, ...]
_matrix_size: Callable[[int], int] = encoder.calc_matrix_size
_make_matrix: Callable[[int, int], _Matrix] = encoder.make_matrix
_add_finder_patterns: Callable[[_Matrix, int, int], None] = encoder.add_finder_patterns
_add_alignment_patterns: Callable[[_Matrix, int, int], None] = encoder.add_alignment_patterns
_mask_functions: Callable[[bool], list[Callable[[int, int], int]]] = encoder.get_data_mask_functions
_add_format_info: Callable[[_Matrix, int, int, int], None] = encoder.add_format_info

_TO_DIGITS = bytes.maketrans(b"\x00\x01", b"01")
_FROM_DIGITS = bytes.maketrans(b"01", b"\x00\x01")
_DARK_RUN = re.compile(b"\x01+")
_N3_PATTERN = (1, 0, 1, 1, 1, 0, 1)  # dark, light, dark ×3, light, dark (finder-like)


@dataclass(frozen=True, slots=True)
class _Layout:
    """What does not depend on the data, for one symbol size.

    A whole symbol is held as one integer, line after line (rows in one, columns in another):
    line *i* takes bits ``i * size`` to ``i * size + size - 1``, its first module the highest.
    One bit operation then scores every line at once; the masks below keep a run or pattern from
    spilling from one line into the next.
    """

    size: int
    fixed_rows: int  # function patterns as segno scores them (reserved areas light)
    fixed_cols: int
    region_rows: int  # the encoding region, where masks apply
    region_cols: int
    mask_rows: tuple[int, ...]  # each mask, inside the region only
    mask_cols: tuple[int, ...]
    pairs: int  # a module that has a next one on its line
    pairs_above: int  # ... on a line that has a next line (N2 blocks)
    starts: int  # where a 7-module pattern fits on its line


def _lines(lines: Iterable[Sequence[int]]) -> int:
    """Lines of 0/1 modules as one integer (see :class:`_Layout`)."""
    digits = b"".join(reversed([bytes(line) for line in lines]))  # line 0 lowest
    return int(digits.translate(_TO_DIGITS), 2)


def _both(matrix: Sequence[Sequence[int]]) -> tuple[int, int]:
    """*matrix* as (rows, columns) integers."""
    return _lines(matrix), _lines(zip(*matrix, strict=True))


def _every_line(size: int, bits: int) -> int:
    """*bits* (of one line) repeated on every line."""
    return int((format(bits, f"0{size}b") * size), 2)


@functools.lru_cache(maxsize=8)
def _layout(version: int) -> _Layout:
    size = _matrix_size(version)
    template = _make_matrix(size, size)
    _add_finder_patterns(template, size, size)
    _add_alignment_patterns(template, size, size)
    region = [bytearray(1 if v == 0x2 else 0 for v in row) for row in template]
    fixed = [bytearray(0 if v == 0x2 else v for v in row) for row in template]
    mask_rows = []
    mask_cols = []
    for pattern in _mask_functions(False):
        rows, cols = _both(
            [
                bytearray(1 if region[i][j] and pattern(i, j) else 0 for j in range(size))
                for i in range(size)
            ]
        )
        mask_rows.append(rows)
        mask_cols.append(cols)
    fixed_rows, fixed_cols = _both(fixed)
    region_rows, region_cols = _both(region)
    pairs = _every_line(size, (1 << (size - 1)) - 1)
    return _Layout(
        size=size,
        fixed_rows=fixed_rows,
        fixed_cols=fixed_cols,
        region_rows=region_rows,
        region_cols=region_cols,
        mask_rows=tuple(mask_rows),
        mask_cols=tuple(mask_cols),
        pairs=pairs,
        pairs_above=pairs & ((1 << (size * (size - 1))) - 1),
        starts=_every_line(size, ((1 << size) - 1) ^ ((1 << 6) - 1)),
    )


def _n1(lines: int, layout: _Layout) -> int:
    """Runs of five or more modules of one colour: 3 points each, plus 1 per extra module."""
    same = ~(lines ^ (lines >> 1)) & layout.pairs  # a module equals the next one
    runs = same & (same >> 1) & (same >> 2) & (same >> 3)  # ... five modules in a row
    return runs.bit_count() + 2 * (runs & ~(runs << 1)).bit_count()


def _n2(rows: int, layout: _Layout) -> int:
    """2 × 2 blocks of one colour: 3 points each."""
    vertical = ~(rows ^ (rows >> layout.size))
    horizontal = ~(rows ^ (rows >> 1)) & layout.pairs_above
    return 3 * (vertical & (vertical >> 1) & horizontal).bit_count()


def _n3(lines: int, layout: _Layout) -> int:
    """Finder-like patterns (1:1:3:1:1) with light on a side: 40 points each, counted exactly as
    segno counts them (it searches on after a counted pattern's end, else after its 4th module,
    and a pattern at either end of a line always counts)."""
    size = layout.size
    found = layout.starts
    for k, dark in enumerate(_N3_PATTERN):
        shifted = lines << k
        found &= shifted if dark else ~shifted
    score = 0
    line = -1
    resume = 0
    while found:
        shift = found.bit_length() - 1
        found ^= 1 << shift
        if shift // size != line:  # lines come last to first, each from its first module
            line, resume = shift // size, 0
        base = line * size
        start = size - 1 - (shift - base)  # the pattern's first module on its line
        if start < resume:
            continue
        end = start + 7
        before = min(start, 4)
        after = min(size - end, 4)
        light_before = (lines >> (base + size - start)) & ((1 << before) - 1) == 0
        light_after = (lines >> (base + size - end - after)) & ((1 << after) - 1) == 0
        if start in (0, size - 7) or light_before or light_after:
            score += 40
            resume = end
        else:
            resume = start + 4
    return score


def _penalty(rows: int, cols: int, layout: _Layout) -> int:
    """ISO/IEC 18004:2015, 7.8.3.1: the penalty of a masked symbol (N1 + N2 + N3 + N4)."""
    score = _n1(rows, layout) + _n1(cols, layout) + _n2(rows, layout)
    score += _n3(rows, layout) + _n3(cols, layout)
    percent = float(rows.bit_count()) / (layout.size**2)
    return score + 10 * int(abs(percent * 100 - 50) / 5)


def qr_matrix(data: str) -> tuple[bytearray, ...]:
    """The modules (1 dark, 0 light) of *data*'s QR code, error level M (or better), as
    ``segno.make(data, error="m", micro=False).matrix``."""
    code = segno.make(data, error="m", micro=False, mask=0)
    version = int(code.version)
    layout = _layout(version)
    rows, cols = _both(code.matrix)
    data_rows = (rows ^ layout.mask_rows[0]) & layout.region_rows
    data_cols = (cols ^ layout.mask_cols[0]) & layout.region_cols
    scores = [
        _penalty(
            layout.fixed_rows | (data_rows ^ layout.mask_rows[mask]),
            layout.fixed_cols | (data_cols ^ layout.mask_cols[mask]),
            layout,
        )
        for mask in range(8)
    ]
    best = scores.index(min(scores))  # the first of the lowest, as segno keeps it
    if best == 0:
        return tuple(code.matrix)
    size = layout.size
    masked = (rows & ~layout.region_rows) | (data_rows ^ layout.mask_rows[best])
    digits = format(masked, f"0{size * size}b").encode().translate(_FROM_DIGITS)
    final = tuple(bytearray(digits[(size - 1 - i) * size : (size - i) * size]) for i in range(size))
    _add_format_info(final, version, consts.ERROR_MAPPING[code.error], best)
    return final


def svg(matrix: Sequence[bytearray]) -> str:
    """*matrix* as inline SVG that scales with its container: no size, no border, no XML
    header, class ``qr-code`` (what ``segno``'s ``svg_inline(border=0, omitsize=True,
    dark="#000", svgclass="qr-code")`` writes)."""
    size = len(matrix)
    parts: list[str] = []
    x, y = 0, 0.0
    for index, row in enumerate(matrix):
        line_y = index + 0.5
        for run in _DARK_RUN.finditer(row):
            start, end = run.span()
            dy = line_y - y
            parts.append(
                f"{'m' if parts else 'M'}{start - x} {int(dy) if dy == int(dy) else dy}"
                f"h{end - start}"
            )
            x, y = end, line_y
    path = "".join(parts)
    return (
        f'<svg viewBox="0 0 {size} {size}" class="qr-code">'
        f'<path class="qrline" stroke="#000" d="{path}"/></svg>'
    )


def qr_svg(data: str) -> str:
    """*data* as an inline SVG QR code (see :func:`qr_matrix` and :func:`svg`)."""
    return svg(qr_matrix(data))
