"""Glyph outlines as PDF path operators (fontTools), for what must print as a picture, not as text.

Seals and micro text are drawn from the fonts' outlines: they print identically everywhere, and they stay
out of the text layer (a search, a copy or ``pdftotext`` does not see them).

The outlines come from the fonts reportlab has already loaded (:mod:`fonts`, mapped files): one glyph is
decoded when drawn, by fontTools' ``Glyph``. Opening the fonts with fontTools instead kept a second copy of
every glyph of all three (~75 MB, mostly IPAmj Mincho's 45 MB ``glyf`` table) for the few a page draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from struct import unpack_from
from typing import Any

from fontTools.pens.basePen import AbstractPen, BasePen
from fontTools.pens.boundsPen import BoundsPen
from fontTools.ttLib.tables._g_l_y_f import Glyph as TTGlyph

from issuance_server.certificates.fonts import MissingGlyphError, font


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


class _GlyfTable:
    """The ``glyf`` table of a font reportlab loaded, as much of fontTools' ``table__g_l_y_f`` as drawing a
    glyph uses: glyphs (decoded when asked for, never kept) by name, and the names components refer to."""

    extended = False  # 16-bit glyph ids in components (fontTools reads the attribute)

    def __init__(self, font_name: str) -> None:
        face = font(font_name).face
        self._data = face._ttf_data  # the mapped file
        self._glyf = face.table["glyf"]["offset"]
        self._loca = face.glyphPos  # per glyph id, offsets into glyf; one more than there are glyphs
        self._hmtx = face.table["hmtx"]["offset"]
        self._long_metrics = unpack_from(">H", self._data, face.table["hhea"]["offset"] + 34)[0]
        self.cmap: dict[int, int] = face.charToGlyph
        self.units_per_em = int(face.unitsPerEm)

    @staticmethod
    def getGlyphName(glyph_id: int) -> str:  # fontTools' name
        return f"gid{glyph_id}"

    @staticmethod
    def getGlyphID(name: str) -> int:  # fontTools' name
        return int(name[3:])

    def __getitem__(self, name: str) -> TTGlyph:
        gid = self.getGlyphID(name)
        start, end = self._loca[gid], self._loca[gid + 1]
        glyph = TTGlyph(self._data[self._glyf + start : self._glyf + end])
        glyph.expand(self)
        return glyph

    def metrics(self, glyph_id: int) -> tuple[int, int]:
        """Advance width and left side bearing (font units), from ``hmtx``."""
        last = self._long_metrics - 1
        advance = unpack_from(">H", self._data, self._hmtx + 4 * min(glyph_id, last))[0]
        if glyph_id <= last:
            lsb = unpack_from(">h", self._data, self._hmtx + 4 * glyph_id + 2)[0]
        else:
            lsb = unpack_from(
                ">h", self._data, self._hmtx + 4 * self._long_metrics + 2 * (glyph_id - last - 1)
            )[0]
        return int(advance), int(lsb)


class _Outline:
    """A glyph a pen can draw (what fontTools' glyph sets hold), shifted as fontTools shifts a glyph
    whose left side bearing differs from its xMin; components are drawn unshifted."""

    def __init__(self, table: _GlyfTable, name: str, top_level: bool) -> None:
        self._table, self._name, self._top_level = table, name, top_level

    def draw(self, pen: AbstractPen) -> None:
        glyph = self._table[self._name]
        offset = 0
        if self._top_level and hasattr(glyph, "xMin"):
            offset = self._table.metrics(self._table.getGlyphID(self._name))[1] - glyph.xMin
        glyph.draw(pen, self._table, offset)


class _GlyphSet:
    """Name -> drawable glyph, for pens resolving components."""

    def __init__(self, table: _GlyfTable) -> None:
        self._table = table

    def __getitem__(self, name: str) -> _Outline:
        return _Outline(self._table, name, top_level=False)


@lru_cache(maxsize=4)
def _source(font_name: str) -> tuple[_GlyfTable, _GlyphSet]:
    table = _GlyfTable(font_name)
    return table, _GlyphSet(table)


def glyphs(text: str, chain: tuple[str, ...]) -> list[Glyph]:
    """The glyph of each character of ``text``, from the first font of ``chain`` that has it."""
    out: list[Glyph] = []
    missing: list[str] = []
    for ch in text:
        for font_name in chain:
            table, glyph_set = _source(font_name)
            gid = table.cmap.get(ord(ch))
            if gid is not None:
                name = table.getGlyphName(gid)
                outline = _Outline(table, name, top_level=True)
                out.append(Glyph(outline, glyph_set, float(table.metrics(gid)[0]), table.units_per_em))
                break
        else:
            missing.append(ch)
    if missing:
        raise MissingGlyphError(list(dict.fromkeys(missing)))
    return out
