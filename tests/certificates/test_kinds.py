"""Every certificate kind through ``render_certificate``, read back with pdftotext and a QR scan."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.fonts import MissingGlyphError
from issuance_server.certificates.render import KINDS as RENDER_KINDS
from issuance_server.certificates.render import CertificateRequest
from tests.certificates.conftest import (
    ADDRESS,
    JUMINHYO_CODE,
    KINDS,
    KOJIN_BANGO,
    NAME,
    items_printed,
    pdftotext,
    request,
    seal_record,
    synthetic_person,
    tax_record,
)
from wire.cert_qr import extract_record_text, verify_text
from wire.cert_record import JST, digest_prefix
from wire.kiosk_api import CertificateKind

RenderReq = Callable[[CertificateRequest], RenderedCertificate]

COMMON = (
    "交付番号　20261126-000123",
    "令和8年11月26日",
    "鹿児島県鹿児島市長　桜島　太郎",
    "1/1",
    NAME,
    ADDRESS,
)
EXPECTED: dict[str, tuple[str, ...]] = {
    "juminhyo": (
        "住民票の写し",
        "この写しは、世帯全員の住民票の原本と相違ないことを証明する。",
        "昭和55年1月1日",
        "以下余白",
        "本籍・筆頭者、個人番号、住民票コードの記載を省略しています。",
    ),
    "inkan": (
        "印鑑登録証明書",
        "この写しは、登録された印影と相違ないことを証明します。",
        "登録番号",
        "0012345",
        "平成22年4月1日",
        "昭和55年1月1日",
    ),
    "tax_income": (
        "所得額証明書",
        "令和8年度（令和7年分）",
        "給与 6,200,000円 4,520,000円",
        "営業等 400,000円 120,000円",
        "公的年金等 0円 0円",
        "その他 60,000円 35,000円",
        "合計所得金額 4,675,000円",
        "所得控除額の合計 2,245,000円",
        "課税標準額 2,430,000円",
        "上記のとおり証明します。",
    ),
    "tax_status": (
        "課税額証明書",
        "令和8年度（令和7年分）",
        "課税区分 課税",
        "所得割・均等割ともに課税",
        "合計所得金額 4,675,000円",
        "合計 217,500円 5,500円 223,000円",
    ),
    "tax_income_assessment": (
        "所得額・課税額証明書",
        "合計所得金額 4,675,000円",
        "市民税 130,500円 3,000円 133,500円",
        "県民税 87,000円 1,500円 88,500円",
        "税額控除額の合計 25,500円",
        "合計 217,500円 5,500円 223,000円",
    ),
    "tax_payment": (
        "市・県民税納税証明書",
        "税目 市民税・県民税（個人）",
        "年度 令和8年度",
        "年税額 223,000円",
        "第1期 令和8年6月30日 3,000円 3,000円 0円",
        "特別徴収 ― 211,000円 ＊ ＊",
        "上記のとおり相違ないことを証明します。",
    ),
}
NEVER = (JUMINHYO_CODE, "住民票コード", KOJIN_BANGO, "個人番号", "本籍", "鹿児島市長之印", "複写", "KONBINI")


def write(tmp_path: Path, cert: RenderedCertificate, name: str = "c.pdf") -> Path:
    path = tmp_path / name
    path.write_bytes(cert.pdf)
    return path


def test_every_wire_kind_has_a_renderer() -> None:
    assert {k.value for k in CertificateKind} == set(KINDS) == RENDER_KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_kind_prints_what_it_must_and_nothing_it_must_not(
    kind: str, render_req: RenderReq, tmp_path: Path
) -> None:
    cert = render_req(request(kind))
    text = pdftotext(write(tmp_path, cert), "-raw")
    for expected in (*COMMON, *EXPECTED[kind]):
        assert expected in text, expected
    for absent in NEVER:
        assert absent not in items_printed(text), absent
    assert "時点の" not in text  # the data-as-of line only in recovery mode
    assert cert.pages == 1 and cert.record.kind == kind


@pytest.mark.parametrize("kind", KINDS)
def test_qr_from_the_300_dpi_raster_verifies(
    kind: str, render_req: RenderReq, tmp_path: Path, issuing_key: Ed25519PrivateKey
) -> None:
    cert = render_req(request(kind))
    path = write(tmp_path, cert)
    text = extract_record_text(path)  # pdftoppm -r 300, then zbar
    assert text == cert.record_text
    outcome = verify_text(text, issuing_key.public_key())
    assert outcome.valid and outcome.record is not None
    assert (outcome.record.kind, outcome.record.name, outcome.record.address) == (kind, NAME, ADDRESS)
    assert outcome.record.content_digest == digest_prefix(cert.content_digest)


@pytest.mark.parametrize("kind", KINDS)
def test_data_as_of_line_in_recovery_mode(kind: str, render_req: RenderReq, tmp_path: Path) -> None:
    as_of = datetime(2026, 11, 26, 1, 15, tzinfo=JST)
    cert = render_req(request(kind, data_as_of=as_of))
    text = pdftotext(write(tmp_path, cert), "-raw")
    assert "この証明書は令和8年11月26日1時15分時点の" in text
    normal = render_req(request(kind))
    assert normal.content_digest != cert.content_digest  # the line is part of the printed content


def test_output_is_deterministic(render_req: RenderReq) -> None:
    a, b = render_req(request("tax_income")), render_req(request("tax_income"))
    assert a.pdf == b.pdf
    assert b"D:20261126103015+09'00'" in a.pdf  # creation date: the issue time


def test_round_or_square_seal_and_foreign_characters(render_req: RenderReq, tmp_path: Path) -> None:
    for seal in (seal_record(impression="𠮷"), seal_record(impression="髙﨑", shape="square")):
        cert = render_req(request("inkan", seal=seal))
        assert "𠮷" not in pdftotext(write(tmp_path, cert), "-raw").split("氏名")[0]  # drawn, not text


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"seal": seal_record(owner_atena_no="0000000999")}, "another person"),
        ({"seal": seal_record(status="abolished")}, "not active"),
        ({"seal": None}, "seal record"),
    ],
)
def test_inkan_refuses_a_wrong_seal(change: dict[str, object], match: str, render_req: RenderReq) -> None:
    with pytest.raises(ValueError, match=match):
        render_req(request("inkan", **change))


@pytest.mark.parametrize(
    ("tax", "match"),
    [
        (tax_record(owner_atena_no="0000000999"), "another person"),
        (tax_record(no_return_filed=1), "no assessment"),
        (tax_record(not_resident_jan1=1), "no assessment"),
        (tax_record(salary_income=-1), "yen amount"),
        (None, "tax record"),
    ],
)
def test_tax_refuses_a_wrong_record(tax: dict[str, object] | None, match: str, render_req: RenderReq) -> None:
    with pytest.raises(ValueError, match=match):
        render_req(request("tax_income", tax=tax))


def test_holder_only_kinds_take_exactly_one_person(render_req: RenderReq) -> None:
    two = [synthetic_person(), synthetic_person(atena_no="0000000102")]
    for kind in KINDS[1:]:
        with pytest.raises(ValueError, match="exactly one person"):
            render_req(request(kind, persons=two))


def test_non_taxed_and_per_capita_only(render_req: RenderReq, tmp_path: Path) -> None:
    zero: dict[str, Any] = dict.fromkeys(
        (
            "municipal_income_levy",
            "municipal_per_capita",
            "prefectural_income_levy",
            "prefectural_per_capita",
        ),
        0,
    )
    zero |= {"forest_env_tax": 0, "collection": None, "instalments": "[]"}
    text = pdftotext(write(tmp_path, render_req(request("tax_status", tax=tax_record(**zero)))), "-raw")
    assert "課税区分 非課税" in text and "非課税限度額以下" in text
    per_capita = {
        **zero,
        "municipal_per_capita": 3000,
        "prefectural_per_capita": 1500,
        "forest_env_tax": 1000,
    }
    text = pdftotext(write(tmp_path, render_req(request("tax_status", tax=tax_record(**per_capita)))), "-raw")
    assert "課税区分 課税" in text and "均等割のみ課税" in text


def test_fiscal_year_in_wareki(render_req: RenderReq, tmp_path: Path) -> None:
    cert = render_req(request("tax_income", tax=tax_record(fiscal_year=2023)))
    assert "令和5年度（令和4年分）" in pdftotext(write(tmp_path, cert), "-raw")


def test_unknown_kind_and_options_are_refused(render_req: RenderReq) -> None:
    with pytest.raises(ValueError, match="unknown certificate kind"):
        render_req(request("juminhyo_code"))
    with pytest.raises(ValueError, match="unknown option"):
        render_req(request("inkan", options=frozenset({"kojin_bango"})))
    with pytest.raises(ValueError, match="layout"):
        render_req(request("juminhyo", layout="landscape"))


def test_naive_times_are_refused(render_req: RenderReq) -> None:
    with pytest.raises(ValueError, match="timezone"):
        render_req(request("inkan", issued_at=datetime(2026, 11, 26, 10, 0)))
    with pytest.raises(ValueError, match="timezone"):
        render_req(request("inkan", data_as_of=datetime(2026, 11, 26, 10, 0)))


@pytest.mark.parametrize("kind", KINDS)
def test_unprintable_name_raises_for_every_kind(kind: str, render_req: RenderReq) -> None:
    req = request(kind)
    bad = dataclasses.replace(req, persons=[synthetic_person(name="田中　\U000f0001子")])
    with pytest.raises(MissingGlyphError, match="U\\+F0001"):
        render_req(bad)


def test_every_page_is_a4_with_embedded_fonts(render_req: RenderReq, tmp_path: Path) -> None:
    path = write(tmp_path, render_req(request("tax_income_assessment")))
    info = subprocess.run(["pdfinfo", str(path)], capture_output=True, text=True, check=True).stdout
    assert "595.276 x 841.89 pts (A4)" in info
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line for line in fonts.splitlines()[2:] if line.strip()]
    assert rows and all(" yes " in row for row in rows)  # every font embedded (as a subset)


def test_a_long_name_and_address_still_scan(render_req: RenderReq, tmp_path: Path) -> None:
    """About the longest record a resident can have: the QR grows (version 18) but still decodes from
    the 300-dpi raster at 38 mm (0.43 mm a module, five pixels)."""
    from issuance_server.certificates.qr import qr_matrix

    person = synthetic_person(
        name="長谷川　左衛門之助太郎兵衛",
        address="鹿児島県鹿児島市喜入瀬々串町字中之浜一丁目二番地三十四号の五六七八九十一",
    )
    cert = render_req(request("tax_income_assessment", persons=[person]))
    assert qr_matrix(cert.record_text).version >= 17
    assert extract_record_text(write(tmp_path, cert)) == cert.record_text


def test_warm_up_runs() -> None:
    from issuance_server.certificates.render import warm_up

    warm_up()
