"""QR code for the signed record: the ``qrcode`` package encodes, this module picks the mask fast and draws.

``qrcode`` builds the whole symbol eight times to choose the mask (ISO/IEC 18004 8.8.2 penalty rules),
about 20 ms for a version-13 code in pure Python. Here the function patterns, the data region and the
module placement order are computed once per version, the codewords are placed once, and the eight
candidate masks are scored on rows held as integers (bit operations and regular expressions). The
result is the same matrix ``qrcode`` makes (same penalty rules, same tie-break: lowest mask number),
in a fraction of the time. Error correction level Q, byte mode.

Drawing: :func:`mask_bits` and :func:`image_ops` make the symbol a 1-bit image mask XObject (what
certificates use); :func:`pdf_ops` draws vector rectangles, dark modules merged into horizontal runs.
"""

from __future__ import annotations

import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import qrcode
from qrcode import constants
from qrcode.base import gexp, glog, rs_blocks
from qrcode.exceptions import DataOverflowError
from qrcode.util import BIT_LIMIT_TABLE, MODE_8BIT_BYTE, PAD0, PAD1, mask_func

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
    capacity: int  # data-region modules (codeword bits plus remainder bits)
    gathers: tuple[Callable[[str], tuple[str, ...]], ...]  # per row: the row's modules from the bit string


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
    # index[r][c]: which bit of the codeword stream module (r, c) shows; function modules point past the
    # end of the data, at a "0" the bit string is padded with.
    order = 0
    index = [[-1] * n for _ in range(n)]
    row, step = n - 1, -1
    for col in range(n - 1, 0, -2):
        if col <= 6:
            col -= 1
        while True:
            for c in (col, col - 1):
                if data_region[row][c]:
                    index[row][c] = order
                    order += 1
            row += step
            if row < 0 or row >= n:
                row -= step
                step = -step
                break
    gathers = tuple(operator.itemgetter(*(i if i >= 0 else order for i in index_row)) for index_row in index)
    return _VersionLayout(
        size=n,
        test_function_rows=_rows_where(test_modules, True),
        function_rows=tuple(_rows_where(_function_modules(version, False, m), True) for m in range(8)),
        mask_rows=tuple(mask_rows),
        capacity=order,
        gathers=gathers,
    )


def _penalty(rows: list[int], n: int) -> int:
    """ISO/IEC 18004 penalty score, computed exactly as ``qrcode.util.lost_point``."""
    full = (1 << n) - 1
    lines = [format(r, f"0{n}b") for r in rows]
    square = "".join(lines)
    lines += [square[c::n] for c in range(n)]  # the columns
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


def _version_for(length: int) -> int:
    """The smallest version whose level-Q capacity holds ``length`` bytes in byte mode."""
    for version in range(1, 41):
        needed = 4 + _count_bits(version) + 8 * length
        if needed <= BIT_LIMIT_TABLE[ERROR_CORRECTION][version]:
            return version
    raise DataOverflowError(f"{length} bytes do not fit in a level-Q QR code")


def _count_bits(version: int) -> int:
    return 8 if version < 10 else 16  # byte mode's character count indicator


@lru_cache(maxsize=64)
def _generator_tables(ec_count: int) -> tuple[tuple[int, ...], ...]:
    """For each coefficient of the Reed-Solomon generator polynomial of degree ``ec_count`` (the leading 1
    left out), the products ``coefficient * x`` in GF(256) for every byte ``x``."""
    poly = [1]  # highest degree first
    for i in range(ec_count):  # times (x - α^i), which is (x + α^i) in GF(2^8)
        root = gexp(i)
        poly = [a ^ _gf_mul(b, root) for a, b in zip([*poly, 0], [0, *poly], strict=True)]
    return tuple(tuple(_gf_mul(c, x) for x in range(256)) for c in poly[1:])


def _gf_mul(a: int, b: int) -> int:
    return 0 if a == 0 or b == 0 else int(gexp(glog(a) + glog(b)))


def _ec_codewords(data: list[int], ec_count: int) -> list[int]:
    """The Reed-Solomon error-correction codewords of one block (polynomial division remainder)."""
    tables = _generator_tables(ec_count)
    remainder = [0] * ec_count
    for byte in data:
        factor = byte ^ remainder[0]
        shifted = [*remainder[1:], 0]
        remainder = [r ^ t[factor] for r, t in zip(shifted, tables, strict=True)] if factor else shifted
    return remainder


def codewords(data: bytes) -> tuple[int, list[int]]:
    """(version, the final codeword sequence) for ``data`` in byte mode at level Q (ISO/IEC 18004 7.4-7.6:
    mode, count, data, terminator, pad bytes 0xEC 0x11, then blocks with their error correction,
    interleaved). The same codewords ``qrcode.util.create_data`` makes, without its bit-by-bit buffer."""
    version = _version_for(len(data))
    count_bits = _count_bits(version)
    bit_limit = BIT_LIMIT_TABLE[ERROR_CORRECTION][version]
    bits = ((MODE_8BIT_BYTE << count_bits) | len(data)) << (8 * len(data)) | int.from_bytes(data, "big")
    n_bits = 4 + count_bits + 8 * len(data)
    tail = min(bit_limit - n_bits, 4)  # terminator
    tail += -(n_bits + tail) % 8  # to a byte boundary
    bits <<= tail
    n_bits += tail
    stream = list(bits.to_bytes(n_bits // 8, "big"))
    stream += [PAD0 if i % 2 == 0 else PAD1 for i in range(bit_limit // 8 - len(stream))]
    blocks, ec_blocks = [], []
    offset = 0
    for block in rs_blocks(version, ERROR_CORRECTION):
        chunk = stream[offset : offset + block.data_count]
        offset += block.data_count
        blocks.append(chunk)
        ec_blocks.append(_ec_codewords(chunk, block.total_count - block.data_count))
    out = [b[i] for i in range(max(map(len, blocks))) for b in blocks if i < len(b)]
    out += [e[i] for i in range(max(map(len, ec_blocks))) for e in ec_blocks if i < len(e)]
    return version, out


def qr_matrix(text: str | bytes) -> QRMatrix:
    """Encode ``text`` (UTF-8) in byte mode, error correction Q, smallest version, best mask."""
    data = text.encode("utf-8") if isinstance(text, str) else text
    version, codeword_list = codewords(data)
    layout = _layout(version)
    n = layout.size
    bits = format(int.from_bytes(bytes(codeword_list), "big"), f"0{8 * len(codeword_list)}b")
    source = bits.ljust(layout.capacity + 1, "0")
    data_rows = [int("".join(gather(source)), 2) for gather in layout.gathers]
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


def mask_bits(matrix: QRMatrix) -> bytes:
    """The symbol as 1-bit image data, rows top to bottom, each padded to a byte, 1 = dark module."""
    n = matrix.size
    pad = "0" * (-n % 8)
    return b"".join(int(row + pad, 2).to_bytes((n + 7) // 8, "big") for row in matrix.rows)


def image_ops(matrix: QRMatrix, size: float, quiet: int, xobject: str) -> str:
    """PDF operators drawing the symbol ``size`` points square, its bottom-left corner at the origin, on a
    white quiet zone of ``quiet`` modules: the image XObject ``xobject`` of :func:`mask_bits` (an image
    mask, one pixel a module, ``/Decode [1 0]``) painted in black.

    One byte per eight modules (about 600 bytes for version 13) instead of a path of ~2,000 rectangles:
    the page stream stays small, printers and viewers render image masks without smoothing, so the
    modules stay sharp, and a verifier reads the symbol back from the file without rasterising it.
    """
    margin = quiet * size / matrix.size
    return (
        f"q 1 g {-margin:.3f} {-margin:.3f} {size + 2 * margin:.3f} {size + 2 * margin:.3f} re f 0 g"
        f" {size:.3f} 0 0 {size:.3f} 0 0 cm /{xobject} Do Q"
    )
