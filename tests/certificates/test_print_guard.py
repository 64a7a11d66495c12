"""The print guard's check of every sheet (wire.print_guard) against genuine and tampered certificates."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from reportlab.pdfgen.canvas import Canvas

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.render import CertificateRequest
from tests.certificates.conftest import request
from tests.certificates.test_juminhyo_layouts import household
from tests.tampered_pdfs import reordered, with_sheet_from, without_sheet
from wire.print_guard import Finding, GuardRefused, check_sheets, desk_credential_sha256

RenderReq = Callable[[CertificateRequest], RenderedCertificate]
CARD = hashlib.sha256(b"the card in the reader").digest()
OTHER_CARD = hashlib.sha256(b"another resident's card").digest()
SERIAL = "20261126-000123"


@pytest.fixture(scope="module")
def three_sheets(render_req: RenderReq) -> bytes:
    return render_req(request("juminhyo", persons=household(9), requester_sha256=CARD)).pdf


@pytest.fixture(scope="module")
def another_serial(render_req: RenderReq) -> bytes:
    return render_req(
        request("juminhyo", persons=household(9), requester_sha256=CARD, serial="20261126-000124")
    ).pdf


def refused(pdf: bytes, key: Ed25519PrivateKey, serial: str = SERIAL, card: bytes = CARD) -> GuardRefused:
    with pytest.raises(GuardRefused) as caught:
        check_sheets(pdf, serial, card, key.public_key())
    return caught.value


def test_a_genuine_certificate_passes_with_its_number_of_sheets(
    render_req: RenderReq, three_sheets: bytes, issuing_key: Ed25519PrivateKey
) -> None:
    assert check_sheets(three_sheets, SERIAL, CARD, issuing_key.public_key()) == 3
    one = render_req(request("inkan", requester_sha256=CARD)).pdf
    assert check_sheets(one, SERIAL, CARD, issuing_key.public_key()) == 1


def test_a_certificate_for_another_card_is_refused(
    three_sheets: bytes, issuing_key: Ed25519PrivateKey
) -> None:
    found = refused(three_sheets, issuing_key, card=OTHER_CARD)
    assert (found.finding, found.sheet) == (Finding.WRONG_REQUESTER, 1)


def test_another_certificate_than_the_serial_issued_is_refused(
    three_sheets: bytes, issuing_key: Ed25519PrivateKey
) -> None:
    found = refused(three_sheets, issuing_key, serial="20261126-000999")
    assert (found.finding, found.sheet) == (Finding.WRONG_SERIAL, 1)


def test_a_certificate_signed_with_another_key_is_refused(three_sheets: bytes) -> None:
    found = refused(three_sheets, Ed25519PrivateKey.generate())
    assert (found.finding, found.sheet, found.detail) == (Finding.BAD_SIGNATURE, 1, "bad_signature")


def test_a_record_naming_no_requester_is_refused(
    render_req: RenderReq, issuing_key: Ed25519PrivateKey
) -> None:
    kb1 = render_req(request("inkan")).pdf
    assert refused(kb1, issuing_key).finding is Finding.NO_REQUESTER


@pytest.mark.parametrize(
    ("tamper", "sheet"),
    [
        (lambda pdf: without_sheet(pdf, 2), 1),  # sheet 1 of 3 on a file of 2
        (lambda pdf: without_sheet(pdf, 3), 1),
        (lambda pdf: reordered(pdf, [1, 3, 2]), 2),
        (lambda pdf: reordered(pdf, [1, 2, 3, 3]), 1),  # a sheet twice
    ],
    ids=["sheet_2_dropped", "last_sheet_dropped", "sheets_swapped", "sheet_repeated"],
)
def test_sheets_that_are_not_exactly_1_to_n_are_refused(
    three_sheets: bytes, issuing_key: Ed25519PrivateKey, tamper: Callable[[bytes], bytes], sheet: int
) -> None:
    found = refused(tamper(three_sheets), issuing_key)
    assert (found.finding, found.sheet) == (Finding.SHEETS, sheet)


def test_a_sheet_of_another_certificate_among_the_sheets_is_refused(
    three_sheets: bytes, another_serial: bytes, issuing_key: Ed25519PrivateKey
) -> None:
    found = refused(with_sheet_from(three_sheets, another_serial, 2), issuing_key)
    assert (found.finding, found.sheet) == (Finding.WRONG_SERIAL, 2)


def test_a_file_that_is_not_a_certificate_is_refused(tmp_path: Path, issuing_key: Ed25519PrivateKey) -> None:
    assert refused(b"%PDF-1.7 not really", issuing_key).finding is Finding.UNREADABLE
    blank = tmp_path / "blank.pdf"
    canvas = Canvas(str(blank))
    canvas.drawString(100, 700, "no record here")
    canvas.save()
    found = refused(blank.read_bytes(), issuing_key)
    assert (found.finding, found.sheet) == (Finding.NO_RECORD, 1)


def test_the_desk_binds_its_session_token() -> None:
    assert desk_credential_sha256("token") == hashlib.sha256(b"token").digest()
    assert desk_credential_sha256("token") != desk_credential_sha256("another")
