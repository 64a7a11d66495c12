"""Anti-copy printing: the 地紋 (a dot pattern hiding a けん制文字 word) and micro text, as PDF operators.

**地紋 (latent image).** Fine grey dots: outside the word's strokes small dots (0.125 mm) on a 0.5 mm
grid, inside them dots twice as large on a 1 mm grid. Both cover the same share of the paper (6.25 %),
so the original shows an even light tint; a copier drops the small dots and keeps the large ones, and
the word (複写, "copy") appears on the copy. The word repeats in tiles, every other row shifted by half a
tile (a brick pattern, so that it does not line up in columns).

The dots are one 1-bit image mask over the whole area, eight pixels a millimetre (so each dot is one
or two of its pixels and each 1 mm cell one byte of a row), painted in grey: built and compressed once
per process and size (~5 kB), embedded once per document. A rasteriser scales the mask to its
resolution and paints only the dots' pixels: poppler at 600 dpi needs about half the time of the tiling
pattern this replaced (which composited its cell over every pixel of the area, ~7 ns each) and far less
than ~250,000 separate vector dots; printers render image masks natively. The mask never enters the
text layer.

**Micro text.** A line of characters about 0.5 mm high, repeated, drawn from glyph outlines (again not
text): it prints as a thin rule and turns into a grey smear when copied or scanned at common resolutions.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from PIL import Image, ImageDraw, ImageFont

from issuance_server.certificates import fonts
from issuance_server.certificates.outlines import glyphs

WORD: Final = "複写"
TILE_W_MM: Final = 44
TILE_H_MM: Final = 22
GRAY: Final = 0.55  # the dots' grey; with 6.25 % coverage the page darkens by about 3 %
PX_PER_MM: Final = 8  # the mask's resolution (203.2 dpi): a 1 mm cell is one byte of a row
# The mask sits half a pixel in from the area's bottom-left corner, so that the small dots (one pixel,
# the second and sixth of a cell) are centred in their 0.5 mm pitch, 0.19 mm from the cell's edges.
OFFSET_MM: Final = 0.5 / PX_PER_MM
_FINE_PITCH: Final = 0.5  # mm, small dots outside the word
_FINE_DOT: Final = 0.125
_COARSE_PITCH: Final = 1.0  # mm, large dots inside the word: the same coverage, (0.25/1.0)² = (0.125/0.5)²
_COARSE_DOT: Final = 0.25
_OVERSAMPLE: Final = 8


@dataclass(frozen=True)
class TintMask:
    """The 地紋 as an image mask: ``width`` x ``height`` pixels of ``1 / PX_PER_MM`` mm, rows top to
    bottom, a 1 bit a dot; the tiles' rows start at the bottom-left corner."""

    data: bytes  # zlib-compressed rows, each padded to a byte
    width: int
    height: int


def word_mask(word: str = WORD, width_mm: int = TILE_W_MM, height_mm: int = TILE_H_MM) -> list[list[bool]]:
    """Which 1 mm cells of the tile lie inside the word's strokes (rows top to bottom)."""
    font = ImageFont.truetype(str(fonts.font_file(fonts.IPAEX_GOTHIC)), size=15 * _OVERSAMPLE)
    image = Image.new("L", (width_mm * _OVERSAMPLE, height_mm * _OVERSAMPLE), 0)
    draw = ImageDraw.Draw(image)
    left, top, right, bottom = draw.textbbox((0, 0), word, font=font, stroke_width=_OVERSAMPLE // 2)
    origin = ((image.width - (right - left)) / 2 - left, (image.height - (bottom - top)) / 2 - top)
    draw.text(origin, word, fill=255, font=font, stroke_width=_OVERSAMPLE // 2, stroke_fill=255)
    small = image.resize((width_mm, height_mm), Image.Resampling.BOX)
    data = small.tobytes()  # one byte a pixel, mode "L"
    return [[data[r * width_mm + c] >= 128 for c in range(width_mm)] for r in range(height_mm)]


def _cell_rows(pitch: float, dot: float) -> list[int]:
    """The eight pixel rows (bottom to top) of a 1 mm cell of dots ``dot`` mm square every ``pitch`` mm,
    as bytes (the leftmost pixel in the high bit); rows and columns alike, so a dot is square."""
    step, size = round(pitch * PX_PER_MM), round(dot * PX_PER_MM)
    on = [(k % step) in range((step - size) // 2, (step - size) // 2 + size) for k in range(PX_PER_MM)]
    row = sum(1 << (PX_PER_MM - 1 - k) for k in range(PX_PER_MM) if on[k])
    return [row if on[k] else 0 for k in range(PX_PER_MM)]


@lru_cache(maxsize=8)
def tint_mask(width_mm: float, height_mm: float, word: str = WORD) -> TintMask:
    """The latent-image mask for an area ``width_mm`` x ``height_mm`` (placed :data:`OFFSET_MM` in from
    its bottom-left corner, whole pixels: it ends less than 0.2 mm short of the right and top edges),
    compressed once per process.

    Each 1 mm cell is inside or outside the word by the tile's :func:`word_mask`, tiles repeating from
    the bottom-left corner, every other row of tiles shifted by half a tile.
    """
    mask = word_mask(word)
    w, h = TILE_W_MM, TILE_H_MM
    width, height = int((width_mm - OFFSET_MM) * PX_PER_MM), int((height_mm - OFFSET_MM) * PX_PER_MM)
    cells = -(-width // PX_PER_MM)
    fine, coarse = _cell_rows(_FINE_PITCH, _FINE_DOT), _cell_rows(_COARSE_PITCH, _COARSE_DOT)
    tables = [bytes([fine[k], coarse[k]]) + bytes(254) for k in range(PX_PER_MM)]  # 0 outside, 1 inside
    inside_rows: dict[int, bytes] = {}  # per mm row from the bottom: 1 for a cell inside the word
    rows = []
    for y in range(height):
        from_bottom = height - 1 - y
        j, k = divmod(from_bottom, PX_PER_MM)
        if j not in inside_rows:
            tile_row, ty = divmod(j, h)
            shift = w // 2 if tile_row % 2 else 0
            inside_rows[j] = bytes(mask[h - 1 - ty][(i + shift) % w] for i in range(cells))
        rows.append(inside_rows[j].translate(tables[k]))
    return TintMask(data=zlib.compress(b"".join(rows), 9), width=width, height=height)


@lru_cache(maxsize=16)
def micro_unit(text: str, size: float) -> tuple[bytes, float]:
    """``text`` at ``size`` points as filled outlines (baseline at y=0): zlib-compressed operators, and
    the width in points. Raises ``MissingGlyphError`` for a character no font has."""
    x = 0.0
    ops: list[str] = []
    for glyph in glyphs(text, fonts.CHAINS["gothic"]):
        ops.extend(glyph.ops_at(x, 0.0, size))
        x += glyph.advance * size / glyph.units_per_em
    return zlib.compress("\n".join([*ops, "f"]).encode("ascii"), 9), x
