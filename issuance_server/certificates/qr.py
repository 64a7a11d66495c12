"""QR code for the signed record: the ``qrcode`` package encodes, this module picks the mask fast and draws.

``qrcode`` builds the whole symbol eight times to choose the mask (ISO/IEC 18004 8.8.2 penalty rules),
about 20 ms for a version-13 code in pure Python. Here the function patterns, the data region and the
module placement order are computed once per version, the codewords are placed once, and the eight
candidate masks are scored on rows held as integers (bit operations and regular expressions). The
result is the same matrix ``qrcode`` makes (same penalty rules, same tie-break: lowest mask number),
in a fraction of the time. Error correction level Q, byte mode.

Drawing: dark modules merged into horizontal runs, emitted as raw PDF path operators (one ``re`` per
run, one fill), several times faster than one reportlab rectangle per module.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from functools import lru_cache

import qrcode
from qrcode import constants
from qrcode.util import MODE_8BIT_BYTE, QRData, create_data, mask_func

ERROR_CORRECTION = constants.ERROR_CORRECT_Q

_LIGHT_RUN = re.compile("00000+")
_DARK_RUN5 = re.compile("11111+")
# Neither finder-like pattern overlaps itself, so str.count (non-overlapping) counts every occurrence.
_FINDER_LIKE = ("10111010000", "00001011101")
_DARK_RUN = re.compile(r"1+")


@dataclass(frozen=True)
class QRMatrix:
    """A QR symbol without quiet zone: ``rows[r][c] == "1"`` is a dark module, row 0 at the top."""

    version: int
    mask: int
    rows: tuple[str, ...]

    @property
    def size(self) -> int:
        return len(self.rows)


@dataclass(frozen=True)
class _VersionLayout:
    size: int
    test_function_rows: tuple[int, ...]  # function patterns as qrcode scores them (format/version bits light)
    function_rows: tuple[tuple[int, ...], ...]  # per mask: function patterns with real format/version bits
    mask_rows: tuple[tuple[int, ...], ...]  # per mask: the mask's dark modules within the data region
    placement: tuple[tuple[int, int], ...]  # data-region modules in codeword bit order: (row, bit)


def _function_modules(version: int, test: bool, mask: int) -> list[list[bool | None]]:
    """The symbol with function patterns only (``None`` = data region), built by ``qrcode`` itself."""
    code = qrcode.QRCode(version=version, error_correction=ERROR_CORRECTION, border=0)
    code.data_cache = []  # skip encoding: we only want the patterns
    code.map_data = lambda data, mask_pattern: None
    code.makeImpl(test, mask)
    return code.modules


def _rows_where(modules: list[list[bool | None]], wanted: object) -> tuple[int, ...]:
    n = len(modules)
    return tuple(sum(1 << (n - 1 - c) for c, m in enumerate(row) if m is wanted) for row in modules)


@lru_cache(maxsize=8)
def _layout(version: int) -> _VersionLayout:
    test_modules = _function_modules(version, True, 0)
    n = len(test_modules)
    data_region = [[m is None for m in row] for row in test_modules]
    mask_rows = []
    for mask in range(8):
        is_dark = mask_func(mask)
        mask_rows.append(
            tuple(
                sum(1 << (n - 1 - c) for c in range(n) if data_region[r][c] and is_dark(r, c))
                for r in range(n)
            )
        )
    # Same walk as qrcode's map_data: two-module columns from the right, zig-zagging up and down.
    placement: list[tuple[int, int]] = []
    row, step = n - 1, -1
    for col in range(n - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if data_region[row][c]:
                    placement.append((row, 1 << (n - 1 - c)))
            row += step
            if row < 0 or row >= n:
                row -= step
                step = -step
                break
    return _VersionLayout(
        size=n,
        test_function_rows=_rows_where(test_modules, True),
        function_rows=tuple(_rows_where(_function_modules(version, False, m), True) for m in range(8)),
        mask_rows=tuple(mask_rows),
        placement=tuple(placement),
    )


def _penalty(rows: list[int], n: int) -> int:
    """ISO/IEC 18004 penalty score, computed exactly as ``qrcode.util.lost_point``."""
    full = (1 << n) - 1
    lines = [format(r, f"0{n}b") for r in rows]
    lines += ["".join(col) for col in zip(*lines, strict=True)]
    text = "2".join(lines)  # "2" matches neither rule, so no run or pattern spans two lines
    runs = _LIGHT_RUN.findall(text) + _DARK_RUN5.findall(text)
    score = sum(map(len, runs)) - 2 * len(runs)
    score += 40 * sum(text.count(pattern) for pattern in _FINDER_LIKE)
    blocks = 0
    for a, b in itertools.pairwise(rows):
        dark = a & b
        light = ~(a | b) & full
        blocks += (dark & (dark >> 1)).bit_count() + (light & (light >> 1)).bit_count()
    score += 3 * blocks
    dark_count = sum(r.bit_count() for r in rows)
    percent = float(dark_count) / (n**2)
    return score + int(abs(percent * 100 - 50) / 5) * 10


def qr_matrix(text: str | bytes) -> QRMatrix:
    """Encode ``text`` (UTF-8) in byte mode, error correction Q, smallest version, best mask."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, border=0)
    code.add_data(QRData(data, mode=MODE_8BIT_BYTE))
    version = code.best_fit()
    codewords = create_data(version, ERROR_CORRECTION, code.data_list)
    layout = _layout(version)
    n = layout.size
    data_rows = [0] * n
    placement = layout.placement
    for byte_index, byte in enumerate(codewords):
        if not byte:
            continue
        base = byte_index * 8
        for bit in range(8):
            if byte & (0x80 >> bit):
                row, value = placement[base + bit]
                data_rows[row] |= value
    best_mask, best_score = 0, -1
    for mask in range(8):
        masked = [
            f | (d ^ m)
            for f, d, m in zip(layout.test_function_rows, data_rows, layout.mask_rows[mask], strict=True)
        ]
        score = _penalty(masked, n)
        if best_score < 0 or score < best_score:
            best_mask, best_score = mask, score
    final = [
        f | (d ^ m)
        for f, d, m in zip(
            layout.function_rows[best_mask], data_rows, layout.mask_rows[best_mask], strict=True
        )
    ]
    return QRMatrix(version=version, mask=best_mask, rows=tuple(format(r, f"0{n}b") for r in final))


def pdf_ops(matrix: QRMatrix, x: float, y_top: float, width: float, quiet: int = 0) -> str:
    """PDF operators filling the dark modules in black; ``(x, y_top)`` is the top-left corner, points.

    The coordinates are in modules (a ``cm`` transform scales them), so each run is four small integers.
    ``quiet`` > 0 first paints that many modules of white margin around the symbol (the quiet zone), so
    that nothing drawn before (the 地紋) reaches into it.
    """
    n = matrix.size
    module = width / n
    parts = [f"q 0 g {module:.5f} 0 0 {module:.5f} {x:.3f} {y_top - width:.3f} cm"]
    append = parts.append
    if quiet > 0:
        append(f"1 g {-quiet} {-quiet} {n + 2 * quiet} {n + 2 * quiet} re f 0 g")
    for r, row in enumerate(matrix.rows):
        y = n - 1 - r
        for run in _DARK_RUN.finditer(row):
            start, end = run.span()
            append(f"{start} {y} {end - start} 1 re")
    append("f Q")
    return "\n".join(parts)
