"""The 地紋 (latent-image けん制文字) and micro text: cheap, invisible to the text layer, clear of the QR."""

from __future__ import annotations

import re
import subprocess
import zlib
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageFilter, ImageStat
from pypdf import PdfReader

from issuance_server.certificates import anticopy
from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.drawing import draw
from issuance_server.certificates.render import CertificateRequest, build_layout
from tests.certificates.conftest import KINDS, pdftotext, request

RenderReq = Callable[[CertificateRequest], RenderedCertificate]


def test_the_word_is_in_the_mask() -> None:
    mask = anticopy.word_mask()
    inside = sum(map(sum, mask))
    cells = anticopy.TILE_W_MM * anticopy.TILE_H_MM
    assert 0.15 * cells < inside < 0.6 * cells  # strokes of 複写, not empty, not a blot
    assert not any(mask[0]) and not any(mask[-1])  # a margin around the word


def test_both_dot_sizes_cover_the_same_share() -> None:
    fine = (anticopy._FINE_DOT / anticopy._FINE_PITCH) ** 2
    coarse = (anticopy._COARSE_DOT / anticopy._COARSE_PITCH) ** 2
    assert fine == pytest.approx(coarse, rel=0.01)  # an even tint on the original


def test_the_mask_has_small_dots_outside_the_word_and_large_inside() -> None:
    """One tile's worth of the mask, cell by cell (1 mm, eight pixels square): four pixels set in every
    cell (an even tint), as four separate dots outside the word and one 2x2 dot inside it."""
    size = anticopy.PX_PER_MM
    w, h = anticopy.TILE_W_MM, anticopy.TILE_H_MM
    tint = anticopy.tint_mask(w + 2 * anticopy.OFFSET_MM, h + 2 * anticopy.OFFSET_MM)
    assert (tint.width, tint.height) == (w * size, h * size)
    stride = (tint.width + 7) // 8
    data = zlib.decompress(tint.data)
    bits = [
        format(int.from_bytes(data[r * stride : (r + 1) * stride], "big"), "b").zfill(stride * 8)
        for r in range(tint.height)
    ]
    mask = anticopy.word_mask()
    for j in range(h):  # mm rows from the top, as word_mask's
        for i in range(w):
            cell = [bits[j * size + r][i * size : (i + 1) * size] for r in range(size)]
            set_px = [(r, c) for r in range(size) for c in range(size) if cell[r][c] == "1"]
            assert len(set_px) == 4, (i, j)
            rows, cols = {r for r, _ in set_px}, {c for _, c in set_px}
            if mask[j][i]:
                assert max(rows) - min(rows) == 1 and max(cols) - min(cols) == 1  # one 2x2 dot
            else:
                assert max(rows) - min(rows) == 4 and max(cols) - min(cols) == 4  # four dots, 0.5 mm apart


def xobjects(page: object) -> dict[str, object]:
    resources = page["/Resources"]  # type: ignore[index]
    return {str(k): v.get_object() for k, v in resources.get("/XObject", {}).items()}


@pytest.mark.parametrize("kind", KINDS)
def test_the_dots_are_one_image_mask_drawn_over_the_page(
    kind: str, render_req: RenderReq, tmp_path: Path
) -> None:
    cert = render_req(request(kind))
    (page,) = PdfReader(_write(tmp_path, cert)).pages
    content = page.get_contents().get_data().decode("latin-1")  # type: ignore[union-attr]
    (tint,) = [name for name in xobjects(page) if "Tint" in name]
    assert content.count(f"{tint} Do") == 1  # drawn once...
    image = xobjects(page)[tint]
    assert (image["/Subtype"], image["/ImageMask"]) == ("/Image", True)  # type: ignore[index]
    assert image["/Width"] >= 193 * anticopy.PX_PER_MM  # type: ignore[index]  # ...over the sheet
    assert image["/Height"] >= 280 * anticopy.PX_PER_MM  # type: ignore[index]
    assert len(image._data) < 10_000  # type: ignore[attr-defined]  # compressed: a few kB
    assert content.count(" re") < 60  # the page itself draws no dots
    assert len(content) < 30_000


def test_several_pages_share_one_background_form(render_req: RenderReq, tmp_path: Path) -> None:
    from tests.certificates.test_juminhyo_layouts import household

    cert = render_req(request("juminhyo", persons=household(9)))
    reader = PdfReader(_write(tmp_path, cert))
    grounds = set()
    for page in reader.pages:
        content = page.get_contents().get_data().decode("latin-1")  # type: ignore[union-attr]
        names = [name for name in xobjects(page) if "Tint" in name]
        assert len(names) == 1 and content.count(f"{names[0]} Do") == 1  # one Do a page
        grounds.add(names[0])
    assert len(grounds) == 1
    pdf = cert.pdf
    assert len(set(re.findall(rb"/FormXob\.kbTint\d+", pdf))) == 1  # the dots: one image mask
    assert len(set(re.findall(rb"/FormXob\.kbQR\d+", pdf))) == 1  # the QR image too


@pytest.mark.parametrize("kind", KINDS)
def test_background_and_micro_text_stay_out_of_the_text_layer(
    kind: str, render_req: RenderReq, tmp_path: Path
) -> None:
    path = _write(tmp_path, render_req(request(kind)))
    for mode in ((), ("-raw",), ("-layout",)):
        text = pdftotext(path, *mode)
        assert "複写" not in text
        assert "KONBINI" not in text and "CERTIFICATE" not in text
        assert "之印" not in text  # the seal is a drawing too
        assert max(len(line) for line in text.splitlines()) < 200  # no runs of repeated micro text


def test_micro_text_is_printed_as_outlines(render_req: RenderReq) -> None:
    stream, width = anticopy.micro_unit("鹿児島市　KONBINI CERTIFICATE　", 1.6)
    assert 20 < width < 60  # points: about a centimetre of text per repetition
    assert zlib.decompress(stream).count(b" c") > 100  # curves of glyph outlines


def test_background_keeps_out_of_the_qr_quiet_zone(render_req: RenderReq, tmp_path: Path) -> None:
    """Rasterised at 300 dpi, the QR's quiet zone (4 modules) is pure white, so the 地紋 cannot
    confuse a scanner; the page around it does carry the tint."""
    import subprocess

    cert = render_req(request("inkan"))
    path = _write(tmp_path, cert)
    subprocess.run(
        ["pdftoppm", "-r", "300", "-gray", "-png", "-singlefile", str(path), str(tmp_path / "p")], check=True
    )
    image = Image.open(tmp_path / "p.png").convert("L")
    px_per_mm = 300 / 25.4
    x, y, size = 15.0, 240.0, 38.0  # the QR item of templates/_page.toml
    quiet = size / 73 * 4 * 0.9  # within four modules of a version-14 symbol (the largest we make)
    band = image.crop(
        (
            round((x - quiet) * px_per_mm),
            round((y - quiet) * px_per_mm),
            round((x - 0.3) * px_per_mm),
            round((y + size) * px_per_mm),
        )
    )
    assert band.getextrema() == (255, 255)  # the left quiet zone: nothing but white
    tint = image.crop(
        (round(100 * px_per_mm), round(200 * px_per_mm), round(140 * px_per_mm), round(230 * px_per_mm))
    )
    low, high = tint.getextrema()
    assert isinstance(low, int)  # one band ("L"): a single (min, max) pair
    assert low < 200 and high == 255  # dots on white: the tint is there
    mean = sum(i * n for i, n in enumerate(tint.histogram())) / (tint.width * tint.height)
    assert mean > 240  # and light


def _write(tmp_path: Path, cert: RenderedCertificate) -> Path:
    path = tmp_path / "c.pdf"
    path.write_bytes(cert.pdf)
    return path


def _drawn_with(req: CertificateRequest, keep: Callable[[str], bool], tables: bool = True) -> bytes:
    """The certificate of ``req`` with only the template items whose type ``keep`` accepts (no QR), and
    its tables or not."""
    layout = build_layout(req)
    template = replace(layout.template, items=tuple(i for i in layout.template.items if keep(i.type)))
    layout = replace(layout, template=template)
    if not tables:
        layout = replace(layout, blocks=(), tables=(), pages=((),))
    pdf, _ = draw(layout, None)
    return pdf


def test_at_600_dpi_small_dots_outside_the_word_large_inside_and_an_even_tint(tmp_path: Path) -> None:
    """The 地紋 alone, rasterised at printer resolution: in every 1 mm cell of the sheet, the dots that
    survive an erosion of 5 pixels (0.21 mm; a copier losing what is finer) are there exactly where the
    tile's word mask says the cell is inside 複写 (brick rows from the bottom-left corner of the 地紋's
    rectangle), and the cells inside and outside the word are equally dark (the original shows no word)."""
    path = tmp_path / "tint.pdf"
    path.write_bytes(_drawn_with(request("inkan"), lambda kind: kind == "anti_copy", tables=False))
    subprocess.run(
        ["pdftoppm", "-r", "600", "-gray", "-singlefile", str(path), str(tmp_path / "t")], check=True
    )
    image = Image.open(tmp_path / "t.pgm")
    dots = image.point(lambda v: 0 if v < 200 else 255)  # the dots' grey is 0.55 (140)
    large = dots.filter(ImageFilter.MaxFilter(5))
    px = 600 / 25.4
    mask = anticopy.word_mask()
    w, h = anticopy.TILE_W_MM, anticopy.TILE_H_MM
    x0, y0, width, height = 8, 8, 194, 281  # mm, from the sheet's bottom-left (templates/_page.toml)
    wrong, darkness = 0, {True: [0.0, 0], False: [0.0, 0]}
    for j in range(height):
        row, ty = divmod(j, h)
        for i in range(width):
            inside = mask[h - 1 - ty][(i + (w // 2 if row % 2 else 0)) % w]
            box = (
                round((x0 + i + 0.1) * px),
                round(image.height - (y0 + j + 0.9) * px),
                round((x0 + i + 0.9) * px),
                round(image.height - (y0 + j + 0.1) * px),
            )
            assert dots.crop(box).getextrema()[0] == 0, (i, j)  # dots in every cell
            wrong += (large.crop(box).getextrema()[0] == 0) != inside
            cell = image.crop(box)
            darkness[inside][0] += 255 - ImageStat.Stat(cell).mean[0]
            darkness[inside][1] += 1
    assert wrong == 0
    inside_dark, outside_dark = (total / count for total, count in (darkness[True], darkness[False]))
    assert darkness[True][1] > 0.15 * width * height
    assert inside_dark == pytest.approx(outside_dark, rel=0.1)  # an even tint: no word on the original
    assert 5 < outside_dark < 15  # light: about 3.5 % darker than paper (9 of 255)


@pytest.mark.parametrize("kind", ["juminhyo", "tax_payment"])
def test_the_text_layer_is_the_same_with_and_without_the_tint(kind: str, tmp_path: Path) -> None:
    req = request(kind)
    with_tint, without = tmp_path / "with.pdf", tmp_path / "without.pdf"
    with_tint.write_bytes(_drawn_with(req, lambda kind: True))
    without.write_bytes(_drawn_with(req, lambda kind: kind != "anti_copy"))
    for mode in ((), ("-raw",), ("-layout",)):
        assert pdftotext(with_tint, *mode) == pdftotext(without, *mode)
