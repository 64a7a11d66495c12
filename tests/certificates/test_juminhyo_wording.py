"""住民票の写し and 印鑑登録証明書 as the city's paper words them (docs/certificates.md): the 認証文 by
scope, 以下余白, the statement of omitted items, 旧氏, 備考, readings as held, each 個人票 sheet's QR naming
its person, and the wording coming from the templates."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.render import CertificateRequest
from issuance_server.certificates.template import TemplateError
from tests.certificates.conftest import foreign_person, page_png, pdftotext, request, synthetic_person
from tests.certificates.test_juminhyo_layouts import household
from wire.cert_qr import VerifyError, extract_record_text, sheet_qr_texts, verify_text
from wire.cert_record import requester_tag

RenderReq = Callable[[CertificateRequest], RenderedCertificate]
WHOLE = "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"
PART = "この写しは、世帯の一部の住民票の原本と相違ないことを証明する。"


def sheets(render_req: RenderReq, tmp_path: Path, **over: Any) -> tuple[list[str], Path]:
    cert = render_req(request("juminhyo", **over))
    path = tmp_path / "j.pdf"
    path.write_bytes(cert.pdf)
    return pdftotext(path, "-raw").split("\f")[:-1], path


@pytest.mark.parametrize("layout", ["setai", "kojin"])
@pytest.mark.parametrize("whole", [True, False])
def test_certification_says_whole_household_or_part(
    render_req: RenderReq, tmp_path: Path, layout: str, whole: bool
) -> None:
    pages, _ = sheets(render_req, tmp_path, persons=household(3), layout=layout, whole_household=whole)
    text = "".join(pages)
    assert (WHOLE in text, PART in text) == (whole, not whole)
    assert "住民票の原本と相違ない" in pages[-1]
    if layout == "setai":  # certified once, on the last sheet
        assert text.count("住民票の原本と相違ない") == 1


def test_end_mark_follows_the_last_person_on_the_last_sheet_only(
    render_req: RenderReq, tmp_path: Path
) -> None:
    pages, _ = sheets(render_req, tmp_path, persons=household(9))
    assert len(pages) == 3
    assert ["以下余白" in page for page in pages] == [False, False, True]
    last = pages[-1].splitlines()
    assert last.index("以下余白") > max(i for i, line in enumerate(last) if "𠮷田　九郎" in line)


def test_omission_statement_names_what_was_left_out_in_order(render_req: RenderReq, tmp_path: Path) -> None:
    persons = [synthetic_person(), foreign_person(atena_no="0000000102", relationship="妻")]
    pages, _ = sheets(
        render_req, tmp_path, persons=persons, options=frozenset({"householder", "kojin_bango"})
    )
    assert "本籍・筆頭者、在留カード等番号、住民票コードの記載を省略しています。" in pages[-1]
    japanese_only, _ = sheets(render_req, tmp_path, options=frozenset({"honseki"}))
    assert (
        "世帯主・続柄、個人番号、住民票コードの記載を省略しています。" in japanese_only[-1]
    )  # no 在留カード


def test_kyuuji_is_printed_beside_the_name_and_noted(render_req: RenderReq, tmp_path: Path) -> None:
    wife = synthetic_person(atena_no="0000000102", name="𠮷田　美咲", relationship="妻", kyuuji="中村")
    for layout in ("setai", "kojin"):
        text = "".join(sheets(render_req, tmp_path, persons=[synthetic_person(), wife], layout=layout)[0])
        lines = text.splitlines()
        name_at = next(i for i, line in enumerate(lines) if "𠮷田　美咲" in line)
        assert "旧氏 中村" in lines[name_at + 1], lines[name_at : name_at + 3]  # right under the name
        assert text.count("旧氏 中村") == 1 and "備考 旧氏記載" in text
    seal = render_req(request("inkan", persons=[synthetic_person(kyuuji="中村")]))
    path = tmp_path / "inkan.pdf"
    path.write_bytes(seal.pdf)
    assert "旧氏 中村" in pdftotext(path, "-raw")


def test_no_kyuuji_row_or_remarks_without_one(render_req: RenderReq, tmp_path: Path) -> None:
    text = "".join(sheets(render_req, tmp_path)[0])
    assert "旧氏" not in text and "備考" not in text


def test_tsusho_is_noted_in_remarks(render_req: RenderReq, tmp_path: Path) -> None:
    text = "".join(sheets(render_req, tmp_path, persons=[foreign_person()])[0])
    assert "通称 山本　安" in text and "備考 通称記載" in text


@pytest.mark.parametrize("reading", ["グエン　ヴァン　アン", "ぐえん　ゔぁん　あん"])
def test_reading_is_printed_as_the_registry_holds_it(
    render_req: RenderReq, tmp_path: Path, reading: str
) -> None:
    text = "".join(sheets(render_req, tmp_path, persons=[foreign_person(name_kana=reading)])[0])
    assert reading in text


def test_each_kojin_sheet_qr_names_the_person_on_it(
    render_req: RenderReq, tmp_path: Path, issuing_key: Ed25519PrivateKey
) -> None:
    persons = household(3)
    cert = render_req(request("juminhyo", persons=persons, layout="kojin"))
    path = tmp_path / "kojin.pdf"
    path.write_bytes(cert.pdf)
    assert len(cert.sheet_records) == cert.pages == 3
    for sheet, person in enumerate(persons, start=1):
        text = extract_record_text(page_png(path, sheet, 300, "-gray"))
        assert text == cert.sheet_records[sheet - 1]
        outcome = verify_text(text, issuing_key.public_key())
        assert outcome.valid and outcome.record is not None
        assert (outcome.record.name, outcome.record.serial) == (person["name"], cert.record.serial)
        assert outcome.record.content_digest == cert.record.content_digest  # one document


def test_household_sheets_name_the_principal(render_req: RenderReq) -> None:
    persons = household(9)
    cert = render_req(request("juminhyo", persons=persons))
    assert cert.pages == 3 and set(cert.sheet_records) == {cert.record_text}
    assert cert.record.name == persons[0]["name"]


def test_a_city_rewords_its_certificates_in_the_templates(
    own_templates: Path, render_req: RenderReq, tmp_path: Path
) -> None:
    path = own_templates / "juminhyo_setai.toml"
    text = path.read_text(encoding="utf-8")
    text = text.replace('title = "住民票の写し"', 'title = "住民票（写）"')
    text = text.replace(PART, "この写しは、住民票の原本と相違ないことを証明する。")
    path.write_text(text, encoding="utf-8")
    pages, _ = sheets(render_req, tmp_path, persons=household(2), whole_household=False)
    assert "住民票（写）" in pages[0] and "住民票の写し" not in pages[0]
    assert "この写しは、住民票の原本と相違ないことを証明する。" in pages[0] and PART not in pages[0]


def test_template_wording_may_not_shadow_a_value(own_templates: Path, render_req: RenderReq) -> None:
    path = own_templates / "juminhyo_setai.toml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("[texts]\n", '[texts]\nhousehold_address = "x"\n', 1), encoding="utf-8")
    with pytest.raises(TemplateError, match="household_address"):
        render_req(request("juminhyo"))


def test_with_a_requester_each_sheet_is_a_kb2_record_of_its_index_and_the_requester(
    render_req: RenderReq, tmp_path: Path, issuing_key: Ed25519PrivateKey
) -> None:
    credential = hashlib.sha256(b"the DER of the card the session authenticated").digest()
    cert = render_req(request("juminhyo", persons=household(9), requester_sha256=credential))
    path = tmp_path / "household.pdf"
    path.write_bytes(cert.pdf)
    assert cert.pages == 3 and len(set(cert.sheet_records)) == 3  # one record a sheet, each its own
    tag = requester_tag(cert.record.serial, credential)
    for sheet in (1, 2, 3):
        text = extract_record_text(page_png(path, sheet, 300, "-gray"))  # as printed: read from the raster
        outcome = verify_text(text, issuing_key.public_key())
        assert outcome.valid and outcome.record is not None and text.startswith("KB2.")
        assert (outcome.record.sheet, outcome.record.sheets, outcome.record.requester_tag) == (sheet, 3, tag)
        assert outcome.record.serial == cert.record.serial
    without = render_req(request("juminhyo", persons=household(9)))
    assert all(t.startswith("KB1.") for t in without.sheet_records)  # no requester: KB1 as before


def test_every_sheets_record_is_read_from_the_file_page_by_page(
    render_req: RenderReq, tmp_path: Path, issuing_key: Ed25519PrivateKey
) -> None:
    credential = hashlib.sha256(b"a card").digest()
    cert = render_req(request("juminhyo", persons=household(9), requester_sha256=credential))
    pages = sheet_qr_texts(cert.pdf)
    assert [len(texts) for texts in pages] == [1, 1, 1] and [t[0] for t in pages] == list(cert.sheet_records)
    records = [verify_text(texts[0], issuing_key.public_key()).record for texts in pages]
    assert [(r.sheet, r.sheets) for r in records if r is not None] == [(1, 3), (2, 3), (3, 3)]
    with pytest.raises(VerifyError):
        sheet_qr_texts(b"%PDF-1.7 nothing")
