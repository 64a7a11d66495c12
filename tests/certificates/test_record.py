from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.qr import qr_matrix
from issuance_server.certificates.render import CertificateRequest
from tests.certificates.conftest import page_png, request
from wire.cert_qr import extract_record_text, verify_text
from wire.cert_record import (
    JST,
    CertRecord,
    InvalidRecord,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
    requester_tag,
    sign_record,
    verify_record,
)

RECORD = CertRecord(
    serial="20261126-000123",
    kind="juminhyo",
    issued_at=datetime(2026, 11, 26, 10, 30, 15, tzinfo=JST),
    municipality_code="462012",
    name="𠮷田　髙志",
    birth_date=date(1980, 1, 1),
    address="鹿児島市山下町11番1号",
    content_digest="00112233445566778899aabbccddeeff",
)


def _flip(ch: str) -> str:
    return "A" if ch != "A" else "B"


def test_round_trip_keeps_every_field(issuing_key: Ed25519PrivateKey) -> None:
    text = sign_record(RECORD, issuing_key)
    assert text.startswith("KB1.") and text.isascii()
    assert 150 <= len(text) <= 250
    back = verify_record(text, issuing_key.public_key())
    assert back == RECORD
    assert back.name == "𠮷田　髙志"  # beyond the BMP
    assert back.issued_at.utcoffset() == JST.utcoffset(None)


def test_issue_time_in_utc_round_trips_as_the_same_instant(issuing_key: Ed25519PrivateKey) -> None:
    utc = RECORD._replace(issued_at=datetime(2026, 11, 26, 1, 30, tzinfo=UTC))
    back = verify_record(sign_record(utc, issuing_key), issuing_key.public_key())
    assert back.issued_at == utc.issued_at
    assert back.issued_at.hour == 10  # shown in JST


@pytest.mark.parametrize("part", [1, 2])
@pytest.mark.parametrize("where", [0, 10, -1])
def test_one_changed_character_is_invalid(issuing_key: Ed25519PrivateKey, part: int, where: int) -> None:
    parts = sign_record(RECORD, issuing_key).split(".")
    chars = list(parts[part])
    chars[where] = _flip(chars[where])
    parts[part] = "".join(chars)
    with pytest.raises(InvalidRecord) as exc:
        verify_record(".".join(parts), issuing_key.public_key())
    assert exc.value.reason in ("bad_signature", "malformed")


def test_changed_payload_character_is_bad_signature(issuing_key: Ed25519PrivateKey) -> None:
    text = sign_record(RECORD, issuing_key)
    i = text.index(".") + 20
    tampered = text[:i] + _flip(text[i]) + text[i + 1 :]
    with pytest.raises(InvalidRecord) as exc:
        verify_record(tampered, issuing_key.public_key())
    assert exc.value.reason == "bad_signature"


def test_every_spelling_of_the_signature_but_one_is_refused(issuing_key: Ed25519PrivateKey) -> None:
    # The signature's last base64 character carries unused bits: other spellings must not verify.
    text = sign_record(RECORD, issuing_key)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    accepted = 0
    for ch in alphabet:
        try:
            verify_record(text[:-1] + ch, issuing_key.public_key())
            accepted += 1
        except InvalidRecord:
            pass
    assert accepted == 1


def test_wrong_key_is_bad_signature(issuing_key: Ed25519PrivateKey) -> None:
    text = sign_record(RECORD, issuing_key)
    with pytest.raises(InvalidRecord) as exc:
        verify_record(text, Ed25519PrivateKey.generate().public_key())
    assert exc.value.reason == "bad_signature"


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "malformed"),
        ("hello", "malformed"),
        ("KB1.abc", "malformed"),
        ("KB1.a.b.c", "malformed"),
        ("KB1.!!!.AAAA", "malformed"),
        ("KB3.AAAA.AAAA", "unknown_version"),
        ("XY1.AAAA.AAAA", "malformed"),
    ],
)
def test_malformed_texts(issuing_key: Ed25519PrivateKey, text: str, reason: str) -> None:
    with pytest.raises(InvalidRecord) as exc:
        verify_record(text, issuing_key.public_key())
    assert exc.value.reason == reason


def test_version_prefix_is_signed(issuing_key: Ed25519PrivateKey) -> None:
    text = sign_record(RECORD, issuing_key)
    with pytest.raises(InvalidRecord) as exc:
        verify_record("KB9" + text[3:], issuing_key.public_key())
    assert exc.value.reason == "unknown_version"


@pytest.mark.parametrize(
    "change",
    [
        {"issued_at": datetime(2026, 11, 26, 10, 30)},  # naive
        {"issued_at": datetime(2026, 11, 26, 10, 30, 0, 5, tzinfo=JST)},  # sub-second
        {"content_digest": "abcd"},
        {"content_digest": "zz" * 16},
        {"name": ""},
        {"address": "鹿児島市\x1f山下町"},
    ],
)
def test_unsignable_records_are_refused(issuing_key: Ed25519PrivateKey, change: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        sign_record(RECORD._replace(**change), issuing_key)  # type: ignore[arg-type]


def test_pem_round_trip(tmp_path, issuing_key: Ed25519PrivateKey) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "k.pub").write_bytes(public_key_pem(issuing_key.public_key()))
    (tmp_path / "k.pem").write_bytes(private_key_pem(issuing_key))
    text = sign_record(RECORD, load_private_key(tmp_path / "k.pem"))
    assert verify_record(text, load_public_key(tmp_path / "k.pub")) == RECORD


def test_fields_for_display() -> None:
    fields = dict(RECORD.fields())
    assert fields["issued_at"] == "2026-11-26T10:30:15+09:00"
    assert fields["birth_date"] == "1980-01-01"
    assert fields["name"] == "𠮷田　髙志"


# --- KB2: the sheet and the requester (issue 31's print guard) ---

CARD_DER_SHA256 = bytes(range(32))  # the SHA-256 of a (synthetic) credential certificate's DER


def sheet_record(sheet: int = 1, sheets: int = 2, serial: str = RECORD.serial) -> CertRecord:
    return RECORD._replace(
        serial=serial, sheet=sheet, sheets=sheets, requester_tag=requester_tag(serial, CARD_DER_SHA256)
    )


def test_a_kb2_record_round_trips_its_sheet_and_requester(issuing_key: Ed25519PrivateKey) -> None:
    text = sign_record(sheet_record(2, 3), issuing_key)
    assert text.startswith("KB2.") and text.isascii()
    back = verify_record(text, issuing_key.public_key())
    assert back == sheet_record(2, 3) and (back.sheet, back.sheets) == (2, 3)
    assert ("sheet", "2/3") in back.fields()
    kb1 = verify_record(sign_record(RECORD, issuing_key), issuing_key.public_key())
    assert kb1.requester_tag == "" and kb1.sheet == 0  # KB1 is still accepted, naming no sheet


def test_the_requester_tag_binds_the_serial_and_the_credential() -> None:
    tag = requester_tag("20261126-000123", CARD_DER_SHA256)
    assert len(tag) == 24 and tag == requester_tag("20261126-000123", CARD_DER_SHA256)
    assert tag != requester_tag("20261126-000124", CARD_DER_SHA256)  # another certificate
    assert tag != requester_tag("20261126-000123", bytes(32))  # another person's card
    with pytest.raises(ValueError):
        requester_tag("20261126-000123", b"short")


def test_a_kb2_payload_cannot_pass_as_kb1_nor_the_reverse(issuing_key: Ed25519PrivateKey) -> None:
    kb2 = sign_record(sheet_record(), issuing_key)
    kb1 = sign_record(RECORD, issuing_key)
    for forged in ("KB1" + kb2[3:], "KB2" + kb1[3:]):
        with pytest.raises(InvalidRecord) as exc:
            verify_record(forged, issuing_key.public_key())
        assert exc.value.reason == "bad_signature"  # the version is signed


@pytest.mark.parametrize(
    "change",
    [
        {"sheet": 0, "sheets": 2},  # sheets count from 1
        {"sheet": 3, "sheets": 2},
        {"sheet": 1, "sheets": 256},
        {"requester_tag": "abcd"},
        {"requester_tag": ""},  # a sheet without a requester is neither KB1 nor KB2
    ],
)
def test_unsignable_kb2_records_are_refused(
    issuing_key: Ed25519PrivateKey, change: dict[str, object]
) -> None:
    with pytest.raises(ValueError):
        sign_record(sheet_record()._replace(**change), issuing_key)  # type: ignore[arg-type]


def test_kb2_costs_the_qr_at_most_one_version_at_the_same_error_correction(
    issuing_key: Ed25519PrivateKey,
) -> None:
    from issuance_server.certificates.qr import _version_for

    before = _version_for(len(sign_record(RECORD, issuing_key)))
    after = _version_for(len(sign_record(sheet_record(), issuing_key)))
    assert before <= after <= before + 1, (before, after)


def test_the_largest_kb2_qr_a_check_page_link_decodes_from_a_300_dpi_raster(
    render_req: Callable[[CertificateRequest], RenderedCertificate],
    tmp_path: Path,
    issuing_key: Ed25519PrivateKey,
) -> None:
    """The 所得額・課税額証明書 carries the longest record; as a link to the city's check page it is the one
    kind whose QR grows to version 16 with KB2 (bench/bench_print_guard.py)."""
    credential = hashlib.sha256(b"a card").digest()
    cert = render_req(
        request(
            "tax_income_assessment",
            requester_sha256=credential,
            public_base_url="https://www.city.example.lg.jp",
        )
    )
    path = tmp_path / "tax.pdf"
    path.write_bytes(cert.pdf)
    read = extract_record_text(page_png(path, 1, 300, "-gray"))
    assert read.startswith("https://www.city.example.lg.jp/verify/KB2.")
    assert qr_matrix(read).version == 16
    outcome = verify_text(read, issuing_key.public_key())
    assert outcome.valid and outcome.record is not None and outcome.record.requester_tag
