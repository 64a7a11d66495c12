"""The city seal (公印), synthetic: a red square with the seal's characters as vector outlines.

The characters are drawn as filled paths taken from IPAex Gothic's glyph outlines (fontTools), not as text,
so the seal is an image: it does not enter the text layer, and it prints identically everywhere. The
operators are built once per (text, size) and reused for every certificate.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

from fontTools.pens.basePen import BasePen
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont

from issuance_server.certificates.fonts import IPAEX_GOTHIC, MissingGlyphError, font_file

SEAL_RED = (0.80, 0.08, 0.10)


class _PdfPathPen(BasePen):
    """Writes a glyph outline as PDF path operators, mapping font units through a scale and offset."""

    def __init__(self, glyph_set: Any, sx: float, sy: float, dx: float, dy: float) -> None:
        super().__init__(glyph_set)
        self.ops: list[str] = []
        self._sx, self._sy, self._dx, self._dy = sx, sy, dx, dy

    def _xy(self, pt: tuple[float, float]) -> str:
        return f"{pt[0] * self._sx + self._dx:.2f} {pt[1] * self._sy + self._dy:.2f}"

    def _moveTo(self, pt: tuple[float, float]) -> None:
        self.ops.append(f"{self._xy(pt)} m")

    def _lineTo(self, pt: tuple[float, float]) -> None:
        self.ops.append(f"{self._xy(pt)} l")

    def _curveToOne(
        self, pt1: tuple[float, float], pt2: tuple[float, float], pt3: tuple[float, float]
    ) -> None:
        self.ops.append(f"{self._xy(pt1)} {self._xy(pt2)} {self._xy(pt3)} c")

    def _closePath(self) -> None:
        self.ops.append("h")


@lru_cache(maxsize=1)
def _glyph_source() -> tuple[Any, dict[int, str]]:
    font = TTFont(str(font_file(IPAEX_GOTHIC)), lazy=True)
    return font.getGlyphSet(), font.getBestCmap()


def seal_columns(text: str) -> list[str]:
    """Characters per column, right column first (read top to bottom, right to left)."""
    n = len(text)
    cols = max(1, math.ceil(math.sqrt(n)))
    base, extra = divmod(n, cols)
    out, start = [], 0
    for i in range(cols):
        count = base + (1 if i < extra else 0)
        out.append(text[start : start + count])
        start += count
    return [c for c in out if c]


@lru_cache(maxsize=8)
def seal_ops(text: str, size: float) -> str:
    """PDF operators for a ``size``-point square seal whose bottom-left corner is the origin."""
    glyph_set, cmap = _glyph_source()
    missing = [ch for ch in text if ord(ch) not in cmap]
    if missing:
        raise MissingGlyphError(missing)
    border = size * 0.055
    inner = size - 2 * border
    pad = size * 0.035
    ops = [f"q {SEAL_RED[0]} {SEAL_RED[1]} {SEAL_RED[2]} rg {SEAL_RED[0]} {SEAL_RED[1]} {SEAL_RED[2]} RG"]
    ops.append(
        f"{border:.2f} w {border / 2:.2f} {border / 2:.2f} {size - border:.2f} {size - border:.2f} re S"
    )
    ops.append(f"{size * 0.012:.2f} w 1 j")  # outlines stroked as well as filled: bolder, seal-like strokes
    columns = seal_columns(text)
    col_width = (inner - 2 * pad) / len(columns)
    for i, column in enumerate(columns):
        x0 = size - border - pad - (i + 1) * col_width
        cell_height = (inner - 2 * pad) / len(column)
        for j, ch in enumerate(column):
            y0 = size - border - pad - (j + 1) * cell_height
            glyph = glyph_set[cmap[ord(ch)]]
            bounds_pen = BoundsPen(glyph_set)
            glyph.draw(bounds_pen)
            if bounds_pen.bounds is None:
                continue
            gx0, gy0, gx1, gy1 = bounds_pen.bounds
            margin = 0.06
            sx = col_width * (1 - 2 * margin) / (gx1 - gx0)
            sy = cell_height * (1 - 2 * margin) / (gy1 - gy0)
            pen = _PdfPathPen(
                glyph_set,
                sx,
                sy,
                x0 + col_width * margin - gx0 * sx,
                y0 + cell_height * margin - gy0 * sy,
            )
            glyph.draw(pen)
            ops.extend(pen.ops)
            ops.append("B")
    ops.append("Q")
    return "\n".join(ops)
