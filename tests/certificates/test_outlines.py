"""Outlines drawn from reportlab's mapped fonts are the ones fontTools draws from the font files."""

from __future__ import annotations

import mmap

import pytest
from fontTools.pens.recordingPen import RecordingPen
from fontTools.ttLib import TTFont

from issuance_server.certificates import fonts
from issuance_server.certificates.outlines import glyphs


@pytest.mark.parametrize(
    ("font_name", "text"),
    [
        (fonts.IPAEX_GOTHIC, "鹿児島市長印 AZaz09①"),
        (fonts.IPAEX_MINCHO, "髙﨑邉"),
        (fonts.IPAMJ_MINCHO, "𠮷田"),
    ],
)
def test_outlines_match_fonttools(font_name: str, text: str) -> None:
    reference = TTFont(str(fonts.font_file(font_name)), lazy=True)
    glyph_set, cmap, hmtx = reference.getGlyphSet(), reference.getBestCmap(), reference["hmtx"]
    upem = reference["head"].unitsPerEm
    for ch, glyph in zip(text, glyphs(text, (font_name,)), strict=True):
        name = cmap[ord(ch)]
        expected = RecordingPen()
        glyph_set[name].draw(expected)
        got = RecordingPen()
        glyph._glyph.draw(got)
        assert got.value == expected.value, ch
        assert (glyph.advance, glyph.units_per_em) == (hmtx[name][0], upem), ch


def test_fonts_are_mapped_not_read_into_memory() -> None:
    assert isinstance(fonts.font(fonts.IPAMJ_MINCHO).face._ttf_data, mmap.mmap)
