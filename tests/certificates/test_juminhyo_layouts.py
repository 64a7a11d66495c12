"""住民票の写し: 世帯連記式 and 個人票, every option, foreign residents, 外字 beyond the BMP."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pypdf import PdfReader

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.render import CertificateRequest
from tests.certificates.conftest import (
    JUMINHYO_CODE,
    KOJIN_BANGO,
    NAME,
    foreign_person,
    page_png,
    pdftotext,
    request,
    synthetic_person,
)
from wire.cert_qr import verify_file
from wire.kiosk_api import JUMINHYO_LAYOUTS, JUMINHYO_OPTIONS

RenderReq = Callable[[CertificateRequest], RenderedCertificate]
SENTENCE = "この写しは、世帯全員の住民票の原本と相違ないことを証明する。"


def household(n: int) -> list[dict[str, Any]]:
    """A synthetic household of ``n``: the householder first."""
    given = "一二三四五六七八九十"
    return [
        synthetic_person(
            atena_no=f"00000001{i:02d}",
            name=f"𠮷田　{given[i]}郎",
            name_kana=f"よしだ　{i}",
            relationship="世帯主" if i == 0 else ("妻" if i == 1 else "子"),
            kojin_bango=f"{i:011d}0",
            birth_date=f"{1980 + i}-0{1 + i % 9}-1{i}",
        )
        for i in range(n)
    ]


def text_of(render_req: RenderReq, tmp_path: Path, **over: Any) -> tuple[str, RenderedCertificate]:
    cert = render_req(request("juminhyo", **over))
    path = tmp_path / "j.pdf"
    path.write_bytes(cert.pdf)
    return pdftotext(path, "-raw"), cert


def page_texts(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "pages.pdf"
    path.write_bytes(pdf)
    return pdftotext(path, "-raw").split("\f")[:-1]


def test_wire_layouts_are_the_templates() -> None:
    from issuance_server.certificates.juminhyo import TEMPLATES

    assert set(JUMINHYO_LAYOUTS) == set(TEMPLATES)


@pytest.mark.parametrize("layout", JUMINHYO_LAYOUTS)
@pytest.mark.parametrize(
    "options",
    [
        frozenset(c)
        for n in range(len(JUMINHYO_OPTIONS) + 1)
        for c in itertools.combinations(JUMINHYO_OPTIONS, n)
    ],
)
def test_each_option_adds_exactly_its_items(
    layout: str, options: frozenset[str], render_req: RenderReq, tmp_path: Path
) -> None:
    persons = [synthetic_person(), foreign_person(atena_no="0000000102", relationship="妻")]
    printed, _ = text_of(render_req, tmp_path, persons=persons, options=options, layout=layout)
    statements = [line for line in printed.splitlines() if line.endswith("の記載を省略しています。")]
    text = "\n".join(line for line in printed.splitlines() if line not in statements)
    omitted = [
        label
        for label, option in (
            ("世帯主・続柄", "householder"),
            ("本籍・筆頭者", "honseki"),
            ("在留カード等番号", "zairyu_card_no"),
            ("個人番号", "kojin_bango"),
            ("住民票コード", None),
        )
        if option not in options
    ]
    sheets = 2 if layout == "kojin" else 1  # the 個人票 certifies (and states) on each sheet
    assert statements == [f"{'、'.join(omitted)}の記載を省略しています。"] * sheets
    assert ("世帯主" in text and "続柄" in text) == ("householder" in options)
    assert (KOJIN_BANGO in text and "個人番号" in text) == ("kojin_bango" in options)
    assert ("AB12345678CD" in text and "在留カード等番号" in text) == ("zairyu_card_no" in options)
    assert ("本籍" in text and "筆頭者" in text) == ("honseki" in options)
    assert text.count("鹿児島県鹿児島市山下町11番地") == (1 if "honseki" in options else 0)  # Japanese only
    assert "山下　一郎" not in text  # the foreign resident's stray 筆頭者: never printed
    for always in ("国籍・地域", "ベトナム", "第30条45規定区分", "中長期在留者", "在留資格", "在留期間"):
        assert always in text, always
    assert "NGUYEN VAN AN" in text and "山本　安" in text and "通称" in text  # 通称 where present
    assert JUMINHYO_CODE not in text and "住民票コード" not in text


def test_nine_persons_make_three_sheets_of_four(
    render_req: RenderReq, tmp_path: Path, issuing_key: Ed25519PrivateKey
) -> None:
    cert = render_req(request("juminhyo", persons=household(9)))
    assert cert.pages == 3
    pages = page_texts(cert.pdf, tmp_path)
    assert len(pages) == 3
    for number, page in enumerate(pages, start=1):
        assert f"{number}/3" in page
        assert "交付番号　20261126-000123" in page and "住民票の写し" in page
        assert "鹿児島市山下町11番1号" in page  # the household's address heads every sheet
        names = re.findall(r"𠮷田　.郎", page)
        assert len(set(names) - {NAME}) == (4 if number < 3 else 1), page
        assert (SENTENCE in page) == (number == 3)  # certified once, on the last sheet
        assert ("（次葉に続く）" in page) == (number < 3)
    every = "".join(pages)
    for given in "一二三四五六七八九":
        assert f"𠮷田　{given}郎" in every
    # The QR is on every sheet and verifies from any of them.
    path = tmp_path / "nine.pdf"
    path.write_bytes(cert.pdf)
    for sheet in (1, 3):
        assert verify_file(page_png(path, sheet, 300, "-gray"), issuing_key.public_key()).valid


def test_kojin_layout_one_person_a_sheet_each_certified(render_req: RenderReq, tmp_path: Path) -> None:
    cert = render_req(request("juminhyo", persons=household(3), layout="kojin"))
    pages = page_texts(cert.pdf, tmp_path)
    assert cert.pages == len(pages) == 3
    for number, page in enumerate(pages, start=1):
        assert f"{number}/3" in page and SENTENCE in page


def test_foreign_resident_with_tsusho(render_req: RenderReq, tmp_path: Path) -> None:
    for layout in JUMINHYO_LAYOUTS:
        text, cert = text_of(render_req, tmp_path, persons=[foreign_person()], layout=layout)
        for expected in (
            "グエン　ヴァン　アン",
            "NGUYEN VAN AN",
            "通称",
            "山本　安",
            "1995年3月4日",
            "技術・人文知識・国際業務",
            "3年",
            "令和10年3月31日",
        ):
            assert expected in text, (layout, expected)
        assert "本籍" not in text and "AB12345678CD" not in text
        assert cert.record.name == "グエン　ヴァン　アン"


def test_no_tsusho_row_content_when_absent(render_req: RenderReq, tmp_path: Path) -> None:
    text, _ = text_of(render_req, tmp_path, persons=[foreign_person(tsusho=None)])
    assert "通称" not in text


@pytest.mark.parametrize("layout", JUMINHYO_LAYOUTS)
def test_names_beyond_the_bmp_read_back(layout: str, render_req: RenderReq, tmp_path: Path) -> None:
    persons = [
        synthetic_person(
            name="𠮷野　𩸽太", householder_name="𠮷野　𩸽太", previous_address="鹿児島市𠮷野町1番地"
        )
    ]
    text, cert = text_of(render_req, tmp_path, persons=persons, layout=layout)
    assert "𠮷野　𩸽太" in text and "鹿児島市𠮷野町1番地" in text
    assert "\u20bb" not in text and "\u29e3" not in text  # no truncated code points
    path = tmp_path / "bmp.pdf"
    path.write_bytes(cert.pdf)
    assert "𠮷野　𩸽太" in "".join(page.extract_text() for page in PdfReader(path).pages)


def test_removed_person_and_other_address_are_refused(render_req: RenderReq) -> None:
    with pytest.raises(ValueError, match="消除者"):
        render_req(request("juminhyo", persons=[synthetic_person(), synthetic_person(status="removed")]))
    with pytest.raises(ValueError, match="another address"):
        render_req(
            request(
                "juminhyo", persons=[synthetic_person(), synthetic_person(address="鹿児島市城山町1番1号")]
            )
        )
    # the 個人票 prints each person's own address
    render_req(
        request(
            "juminhyo",
            layout="kojin",
            persons=[synthetic_person(), synthetic_person(address="鹿児島市城山町1番1号")],
        )
    )
