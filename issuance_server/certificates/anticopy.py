"""Anti-copy printing: the 地紋 (a dot pattern hiding a けん制文字 word) and micro text, as PDF operators.

**地紋 (latent image).** A tile of fine grey dots: outside the word's strokes small dots on a 0.5 mm grid,
inside them dots twice as large on a 1 mm grid. Both cover the same share of the paper (7.8 %), so the
original shows an even light tint; a copier drops the small dots and keeps the large ones, and the word
(複写, "copy") appears on the copy. The dots are the cell of a PDF tiling pattern (built and compressed
once per process, embedded once per document) that fills the sheet: a rasteriser draws the cell once and
copies it, where ~250,000 separate dots cost poppler 5x a bare page at 300 dpi. The dots are paths in
a pattern: they never enter the text layer.

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
GRAY: Final = 0.55  # the dots' grey; with 7.8 % coverage the page darkens by about 3.5 %
_FINE_PITCH: Final = 0.5  # mm, small dots outside the word
_FINE_DOT: Final = 0.14
_COARSE_PITCH: Final = 1.0  # mm, large dots inside the word: the same coverage, (0.28/1.0)² = (0.14/0.5)²
_COARSE_DOT: Final = 0.28
_OVERSAMPLE: Final = 8


@dataclass(frozen=True)
class Pattern:
    """The 地紋 as a tiling pattern. Units: millimetres, ``y`` running down the page (see :func:`pattern`),
    the origin at the bottom-left corner of a tile of the first row."""

    tile: bytes  # zlib-compressed PDF operators: one tile's dots, filling [0, TILE_W_MM] x [-TILE_H_MM, 0]
    cell: str  # the cell's operators: the tile (as the form ``/T``), and above it two halves shifted
    width: float  # the cell's width and horizontal step
    height: float  # the cell's height and vertical step: two rows of tiles


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


def _tile_dots(mask: list[list[bool]]) -> list[tuple[float, float, float]]:
    """(x, y, size) in mm of each dot of one tile, ``y`` upwards from the tile's bottom edge."""
    rows = len(mask)
    fine_offsets = [(_FINE_PITCH - _FINE_DOT) / 2 + k * _FINE_PITCH for k in range(int(1 / _FINE_PITCH))]
    coarse_offset = (_COARSE_PITCH - _COARSE_DOT) / 2
    fine: list[tuple[float, float, float]] = []
    coarse: list[tuple[float, float, float]] = []
    for r, row in enumerate(mask):
        y = float(rows - 1 - r)
        for c, inside in enumerate(row):
            if inside:
                coarse.append((c + coarse_offset, y + coarse_offset, _COARSE_DOT))
            else:
                fine.extend((c + dx, y + dy, _FINE_DOT) for dy in fine_offsets for dx in fine_offsets)
    return fine + coarse


@lru_cache(maxsize=4)
def pattern(word: str = WORD) -> Pattern:
    """The latent-image pattern for ``word``, the tile's operators compressed once per process.

    Each dot is a filled square (``re``): a viewer or printer renders it by its area, where a dashed
    hairline would be widened to a whole device pixel and show the word on screen. The cell holds two
    rows of tiles, the second shifted by half a tile (a brick pattern, so the word does not line up in
    columns); no dot crosses a whole millimetre, so the cell's edge cuts none.

    ``y`` runs down the page (the engine's pattern matrix flips it): poppler then draws the cell once
    and copies it across the page; with ``y`` up it rescales the whole tiled image, four times slower
    at 600 dpi.
    """
    ops = [f"{GRAY} g", *(f"{x:.2f} {-y - s:.2f} {s} {s} re" for x, y, s in _tile_dots(word_mask(word))), "f"]
    w, h = TILE_W_MM, TILE_H_MM
    cell = f"/T Do q 1 0 0 1 {-w / 2:g} {-h} cm /T Do Q q 1 0 0 1 {w / 2:g} {-h} cm /T Do Q"
    return Pattern(
        tile=zlib.compress("\n".join(ops).encode("ascii"), 9), cell=cell, width=float(w), height=2.0 * h
    )


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
