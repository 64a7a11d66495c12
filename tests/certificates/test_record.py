from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates.record import (
    JST,
    CertRecord,
    InvalidRecord,
    load_private_key,
    load_public_key,
    private_key_pem,
    public_key_pem,
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
        ("KB2.AAAA.AAAA", "unknown_version"),
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
