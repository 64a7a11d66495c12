"""Anti-copy printing: the 地紋 (a dot pattern hiding a けん制文字 word) and micro text, as PDF operators.

**地紋 (latent image).** A tile of fine grey dots: outside the word's strokes small dots on a 0.5 mm grid,
inside them dots twice as large on a 1 mm grid. Both cover the same share of the paper (7.8 %), so the
original shows an even light tint; a copier drops the small dots and keeps the large ones, and the word
(複写, "copy") appears on the copy. The tile's operators are built and compressed once per process; the
engine embeds them as a form XObject once per document and places it over the page from a second form,
so a page costs one ``Do``. The dots are paths: they never enter the text layer.

**Micro text.** A line of characters about 0.5 mm high, repeated, drawn from glyph outlines (again not
text): it prints as a thin rule and turns into a grey smear when copied or scanned at common resolutions.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import lru_cache
from typing import Final

from PIL import Image, ImageDraw, ImageFont
from reportlab.lib.units import mm

from issuance_server.certificates import fonts
from issuance_server.certificates.outlines import glyphs

WORD: Final = "複写"
TILE_W_MM: Final = 44
TILE_H_MM: Final = 22
GRAY: Final = 0.55  # the dots' grey; with 7.8 % coverage the page darkens by about 3.5 %
_FINE_PITCH: Final = 0.5  # mm, small dots outside the word
_FINE_DOT: Final = 0.14
_COARSE_PITCH: Final = 1.0  # mm, large dots inside the word: the same coverage, (0.28/1.0)² = (0.14/0.5)²
_COARSE_DOT: Final = 0.28
_OVERSAMPLE: Final = 8


@dataclass(frozen=True)
class Tile:
    stream: bytes  # zlib-compressed PDF operators, origin at the tile's bottom-left corner, points
    width: float  # points
    height: float


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


@lru_cache(maxsize=4)
def tile(word: str = WORD) -> Tile:
    """The latent-image tile for ``word``, its operators compressed once per process.

    Each dot is a filled square (``re``): a viewer or printer renders it by its area, where a dashed
    hairline would be widened to a whole device pixel and show the word on screen.
    """
    mask = word_mask(word)
    rows = len(mask)
    fine_offsets = [(_FINE_PITCH - _FINE_DOT) / 2 + k * _FINE_PITCH for k in range(int(1 / _FINE_PITCH))]
    coarse_offset = (_COARSE_PITCH - _COARSE_DOT) / 2
    fine: list[str] = []
    coarse: list[str] = []
    for r, row in enumerate(mask):
        y = float(rows - 1 - r)  # PDF y grows upwards
        for c, inside in enumerate(row):
            if inside:
                coarse.append(
                    f"{c + coarse_offset:.2f} {y + coarse_offset:.2f} {_COARSE_DOT} {_COARSE_DOT} re"
                )
            else:
                for dy in fine_offsets:
                    for dx in fine_offsets:
                        fine.append(f"{c + dx:.2f} {y + dy:.2f} {_FINE_DOT} {_FINE_DOT} re")
    ops = "\n".join([f"q {mm:.5f} 0 0 {mm:.5f} 0 0 cm {GRAY} g", *fine, *coarse, "f Q"])
    return Tile(stream=zlib.compress(ops.encode("ascii"), 9), width=TILE_W_MM * mm, height=TILE_H_MM * mm)


def tile_positions(
    x0: float, y0: float, x1: float, y1: float, width: float, height: float
) -> list[tuple[float, float]]:
    """Bottom-left corners of tiles covering the rectangle (points), every other row shifted by half a
    tile (a brick pattern, so the word does not line up in columns)."""
    out = []
    row = 0
    y = y0
    while y < y1:
        x = x0 - (width / 2 if row % 2 else 0.0)
        while x < x1:
            out.append((x, y))
            x += width
        y += height
        row += 1
    return out


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
