from __future__ import annotations

import io
import subprocess

import pytest
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates import fonts
from issuance_server.certificates.unicode_ttfont import to_unicode_cmap

UNMAPPED = "\U000f0001"  # a supplementary private-use code point: in no font


def test_ipaex_lacks_yoshi_and_ipamj_has_it() -> None:
    assert not fonts.has_glyph(fonts.IPAEX_MINCHO, "𠮷")
    assert fonts.has_glyph(fonts.IPAMJ_MINCHO, "𠮷")
    for ch in "髙﨑邉栁邊辻𩸽":
        assert fonts.has_glyph(fonts.IPAEX_MINCHO, ch)


def test_runs_fall_back_per_character() -> None:
    assert fonts.runs("𠮷田", fonts.CHAINS["text"]) == [
        (fonts.IPAMJ_MINCHO, "𠮷"),
        (fonts.IPAEX_MINCHO, "田"),
    ]
    assert fonts.runs("𠮷田", fonts.CHAINS["name"]) == [(fonts.IPAMJ_MINCHO, "𠮷田")]


def test_check_coverage_lists_missing_characters_once() -> None:
    assert fonts.check_coverage("𠮷田　髙志") == []
    assert fonts.check_coverage(f"田{UNMAPPED}中{UNMAPPED}") == [UNMAPPED]


def test_missing_glyph_raises_naming_the_code_point() -> None:
    with pytest.raises(fonts.MissingGlyphError) as exc:
        fonts.runs(f"山{UNMAPPED}田", fonts.CHAINS["text"])
    assert "U+F0001" in str(exc.value)
    assert exc.value.characters == [UNMAPPED]


def test_cmap_uses_surrogate_pairs_beyond_the_bmp() -> None:
    cmap = to_unicode_cmap("AAAAAA+Test", [0, 0x7530, 0x20BB7])
    assert "<01> <7530>" in cmap
    assert "<02> <D842DFB7>" in cmap
    assert "3 beginbfchar" in cmap


def test_cmap_blocks_hold_at_most_100_entries() -> None:
    cmap = to_unicode_cmap("X", list(range(0x4E00, 0x4E00 + 256)))
    assert cmap.count("beginbfchar") == 3
    assert "100 beginbfchar" in cmap and "56 beginbfchar" in cmap


def test_text_layer_reads_back_beyond_the_bmp(tmp_path) -> None:  # type: ignore[no-untyped-def]
    buf = io.BytesIO()
    canvas = Canvas(buf)
    for i, name in enumerate((fonts.IPAMJ_MINCHO, fonts.IPAEX_MINCHO)):
        text = "𠮷田" if name == fonts.IPAMJ_MINCHO else "鹿児島"
        canvas.setFont(name, 14)
        canvas.drawString(72, 700 - 30 * i, text)
    canvas.save()
    path = tmp_path / "t.pdf"
    path.write_bytes(buf.getvalue())
    out = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "𠮷田" in out
    assert "\u20bb" not in out
    assert "鹿児島" in out
