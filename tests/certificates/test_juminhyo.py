"""The rendered 住民票の写し, read back the way a person, a screen reader and a verifier would."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from pypdf import PdfReader
from pypdf.generic import DictionaryObject

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.fonts import MissingGlyphError
from tests.certificates.conftest import (
    ADDRESS,
    JUMINHYO_CODE,
    KATAGAKI,
    KOJIN_BANGO,
    NAME,
    items_printed,
    page_png,
    pdftotext,
    synthetic_person,
)
from wire.cert_qr import extract_record_text, verify_file, verify_text
from wire.cert_record import digest_prefix

Render = Callable[..., RenderedCertificate]


def write(tmp_path: Path, cert: RenderedCertificate, name: str = "c.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(cert.pdf)
    return path


@pytest.mark.parametrize("mode", [(), ("-raw",), ("-layout",)])
def test_name_and_address_read_back_exactly(certificate_pdf: Path, mode: tuple[str, ...]) -> None:
    text = pdftotext(certificate_pdf, *mode)
    assert NAME in text  # 𠮷 (U+20BB7) and the ideographic space included
    assert "\u20bb" not in text
    assert ADDRESS in text
    assert KATAGAKI in text


def test_printed_items(certificate_pdf: Path) -> None:
    text = pdftotext(certificate_pdf)
    for expected in (
        "住民票の写し",
        "よしだ　たかし",
        "昭和55年1月1日",  # 生年月日
        "男",
        "世帯主",
        "続柄",
        "住民となった日",
        "住所を定めた日",
        "平成27年6月30日",
        "鹿児島市東千石町1番1号",
        "この写しは、世帯全員の住民票の原本と相違ないことを証明する。",
        "令和8年11月26日",
        "鹿児島県鹿児島市長　桜島　太郎",
        "20261126-000123",
        "1/1",
    ):
        assert expected in text, expected
    assert "鹿児島市長之印" not in text  # the seal is drawn, not text


def test_no_resident_code_and_no_my_number_by_default(certificate_pdf: Path) -> None:
    text = pdftotext(certificate_pdf)
    for absent in (JUMINHYO_CODE, KOJIN_BANGO, "住民票コード", "個人番号", "本籍"):
        assert absent not in items_printed(text)
    assert "本籍・筆頭者、個人番号、住民票コードの記載を省略しています。" in text


def test_my_number_only_when_asked(render: Render, tmp_path: Path) -> None:
    text = pdftotext(write(tmp_path, render(options={"householder", "kojin_bango"})))
    assert KOJIN_BANGO in text and "個人番号" in text
    assert JUMINHYO_CODE not in text


def test_unknown_option_is_refused(render: Render) -> None:
    with pytest.raises(ValueError, match="unknown option"):
        render(options={"juminhyo_code"})


def test_every_font_is_an_embedded_subset(certificate: RenderedCertificate, certificate_pdf: Path) -> None:
    reader = PdfReader(certificate_pdf)
    seen = 0
    for page in reader.pages:
        resources = page["/Resources"]
        assert isinstance(resources, DictionaryObject)
        fonts = resources["/Font"]
        assert isinstance(fonts, DictionaryObject)
        for font_ref in fonts.values():
            font = font_ref.get_object()
            descriptor = font["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, font["/BaseFont"]
            assert font["/BaseFont"][7] == "+", "subset fonts are named XXXXXX+Name"
            seen += 1
    assert seen >= 2  # IPAex for the text, IPAmj for the names
    assert certificate.pages == len(reader.pages) == 1


def test_qr_from_the_300_dpi_raster_verifies(
    certificate: RenderedCertificate, certificate_pdf: Path, issuing_key: Ed25519PrivateKey
) -> None:
    text = extract_record_text(certificate_pdf)
    assert text == certificate.record_text
    outcome = verify_text(text, issuing_key.public_key())
    assert outcome.valid and outcome.record is not None
    assert outcome.record.name == NAME
    assert outcome.record.address == ADDRESS
    assert outcome.record.birth_date.isoformat() == "1980-01-01"
    assert outcome.record.content_digest == digest_prefix(certificate.content_digest)
    assert outcome.record.serial == "20261126-000123" and outcome.record.kind == "juminhyo"


@pytest.mark.parametrize(("fmt", "dpi"), [("png", 300), ("png", 150), ("jpeg", 200)])
def test_an_image_of_the_page_verifies(
    certificate_pdf: Path, issuing_key: Ed25519PrivateKey, tmp_path: Path, fmt: str, dpi: int
) -> None:
    subprocess.run(
        ["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(certificate_pdf), str(tmp_path / "page")],
        check=True,
    )
    image = tmp_path / "page.png"
    if fmt == "jpeg":
        jpeg = tmp_path / "page.jpg"
        Image.open(image).convert("RGB").save(jpeg, quality=80)
        image = jpeg
    outcome = verify_file(image, issuing_key.public_key())
    assert outcome.valid, outcome.reason


def test_record_is_compact(certificate: RenderedCertificate) -> None:
    assert certificate.record_text.isascii()
    assert len(certificate.record_text) <= 250


def test_content_digest_is_deterministic_and_covers_the_content(render: Render) -> None:
    a, b = render(), render()
    assert a.content_digest == b.content_digest
    assert len(a.content_digest) == 64
    moved = render([synthetic_person(katagaki="山下レジデンス102号")])
    assert moved.content_digest != a.content_digest
    later = render(serial="20261126-000124")
    assert later.content_digest != a.content_digest


def test_a_character_in_no_font_raises_and_names_it(render: Render) -> None:
    with pytest.raises(MissingGlyphError, match="U\\+F0001"):
        render([synthetic_person(name="田中　\U000f0001子")])


def test_several_persons_paginate_with_page_numbers_and_a_qr_on_each_page(
    render: Render, tmp_path: Path, issuing_key: Ed25519PrivateKey
) -> None:
    persons = [
        synthetic_person(atena_no=f"00000001{i:02d}", name=f"𠮷田　{n}") for i, n in enumerate("一二三四五")
    ]
    persons[1]["relationship"] = "妻"
    cert = render(persons, layout="kojin")  # 個人票: one person a sheet
    assert cert.pages == 5
    path = write(tmp_path, cert)
    text = pdftotext(path)
    for n in "一二三四五":
        assert f"𠮷田　{n}" in text
    assert "5/5" in text
    assert extract_record_text(path) == cert.record_text
    assert (
        text.count("この写しは、世帯全員の住民票の原本と相違ないことを証明する。") == 5
    )  # each sheet certified
    for page in (1, 5):
        assert verify_file(page_png(path, page, 200), issuing_key.public_key()).valid


def test_foreign_resident_items(render: Render, tmp_path: Path) -> None:
    person = synthetic_person(
        kind="foreign",
        name="グエン　ヴァン　アン",
        name_kana="グエン　ヴァン　アン",
        name_alpha="NGUYEN VAN AN",
        birth_date="1995-03-04",
        nationality="ベトナム",
        art30_45_class="中長期在留者",
        zairyu_status="技術・人文知識・国際業務",
        zairyu_period="3年",
        zairyu_expiry="2028-03-31",
        zairyu_card_no="AB12345678CD",
        honseki=None,
        hittousha=None,
    )
    text = pdftotext(write(tmp_path, render([person])), "-raw")
    assert "グエン　ヴァン　アン" in text
    assert "NGUYEN VAN AN" in text
    assert "1995年3月4日" in text  # 外国人住民の生年月日は西暦
    assert "ベトナム" in text and "技術・人文知識・国際業務" in text and "令和10年3月31日" in text
    assert "AB12345678CD" not in text  # 在留カード等番号 only when asked


def test_naive_issue_time_is_refused(render: Render) -> None:
    with pytest.raises(ValueError, match="timezone"):
        render(issued_at=datetime(2026, 11, 26, 10, 30))


def test_issue_date_is_the_date_in_japan(render: Render, tmp_path: Path) -> None:
    from datetime import UTC

    cert = render(issued_at=datetime(2026, 11, 25, 23, 30, tzinfo=UTC))  # 08:30 on the 26th in Japan
    assert "令和8年11月26日" in pdftotext(write(tmp_path, cert))


def test_pypdf_reads_the_name_too(certificate_pdf: Path) -> None:
    text = "".join(page.extract_text() for page in PdfReader(certificate_pdf).pages)
    assert NAME in text and ADDRESS in text


def test_concurrent_renders_do_not_mix(render: Render, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    names = [f"𠮷田　{n}" for n in "一二三四五六"]
    with ThreadPoolExecutor(max_workers=3) as pool:
        certs = list(pool.map(lambda n: render([synthetic_person(name=n)], serial=f"S-{n[-1]}"), names))
    for i, (name, cert) in enumerate(zip(names, certs, strict=True)):
        text = pdftotext(write(tmp_path, cert, f"{i}.pdf"))
        assert name in text
        assert all(other not in text for other in names if other != name)
