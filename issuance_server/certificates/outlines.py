"""Glyph outlines as PDF path operators (fontTools), for what must print as a picture, not as text.

Seals and micro text are drawn from the fonts' outlines: they print identically everywhere, and they stay
out of the text layer (a search, a copy or ``pdftotext`` does not see them).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from fontTools.pens.basePen import BasePen
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib import TTFont

from issuance_server.certificates.fonts import MissingGlyphError, font_file


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


@dataclass(frozen=True)
class Glyph:
    """One character's outline source: draw it with :meth:`ops_in_box` or :meth:`ops_at`."""

    _glyph: Any
    _glyph_set: Any
    advance: float  # font units
    units_per_em: int

    @property
    def bounds(self) -> tuple[float, float, float, float] | None:
        pen = BoundsPen(self._glyph_set)
        self._glyph.draw(pen)
        return pen.bounds

    def ops_in_box(self, x: float, y: float, width: float, height: float) -> list[str]:
        """Path operators stretching the glyph's ink box over the box (seal style); ``[]`` if blank."""
        bounds = self.bounds
        if bounds is None:
            return []
        gx0, gy0, gx1, gy1 = bounds
        sx, sy = width / max(gx1 - gx0, 1), height / max(gy1 - gy0, 1)
        pen = _PdfPathPen(self._glyph_set, sx, sy, x - gx0 * sx, y - gy0 * sy)
        self._glyph.draw(pen)
        return pen.ops

    def ops_at(self, x: float, baseline: float, size: float) -> list[str]:
        """Path operators for the glyph set like text: origin ``(x, baseline)``, ``size`` points an em."""
        scale = size / self.units_per_em
        pen = _PdfPathPen(self._glyph_set, scale, scale, x, baseline)
        self._glyph.draw(pen)
        return pen.ops


@lru_cache(maxsize=4)
def _source(font_name: str) -> tuple[Any, dict[int, str], Any, int]:
    font = TTFont(str(font_file(font_name)), lazy=True)
    return font.getGlyphSet(), font.getBestCmap(), font["hmtx"], int(font["head"].unitsPerEm)


def glyphs(text: str, chain: tuple[str, ...]) -> list[Glyph]:
    """The glyph of each character of ``text``, from the first font of ``chain`` that has it."""
    out: list[Glyph] = []
    missing: list[str] = []
    for ch in text:
        for font_name in chain:
            glyph_set, cmap, hmtx, upem = _source(font_name)
            name = cmap.get(ord(ch))
            if name is not None:
                out.append(Glyph(glyph_set[name], glyph_set, float(hmtx[name][0]), upem))
                break
        else:
            missing.append(ch)
    if missing:
        raise MissingGlyphError(list(dict.fromkeys(missing)))
    return out
