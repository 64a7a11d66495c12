"""The demo card CA, personalisation, the card file and the profile's APDU builders."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from devices.card import profile as p
from devices.card.apdu import expected_length, sw_name
from devices.card.virtual.ca import CardCaError, SignPasswordFormatError, init_ca, issue_card
from devices.card.virtual.state import CardFileError, load_state


def test_init_ca_is_idempotent_and_private(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    init_ca(ca)
    key, cert = (ca / "ca.key").read_bytes(), (ca / "ca.crt").read_bytes()
    assert (ca / "ca.key").stat().st_mode & 0o777 == 0o600
    init_ca(ca)
    assert (ca / "ca.key").read_bytes() == key and (ca / "ca.crt").read_bytes() == cert
    ca_cert = x509.load_pem_x509_certificate(cert)
    assert ca_cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_init_ca_refuses_half_a_ca(tmp_path: Path) -> None:
    init_ca(tmp_path)
    (tmp_path / "ca.crt").unlink()
    with pytest.raises(CardCaError, match="only one"):
        init_ca(tmp_path)
    assert (tmp_path / "ca.key").exists()


def test_issue_card(card_ca: Path, tmp_path: Path) -> None:
    start = datetime(2025, 4, 1, 9, 0, tzinfo=UTC)
    out = tmp_path / "cards" / "alice.json"
    card_id = issue_card(card_ca, out, "0420", card_id="ALICE-01", valid_days=30, not_before=start)
    assert card_id == "ALICE-01"
    assert out.stat().st_mode & 0o777 == 0o600
    state = load_state(out)
    assert state.tries_left == 3 and state.pin == "0420"
    cert = x509.load_der_x509_certificate(state.certificate_der)
    ca_cert = x509.load_pem_x509_certificate((card_ca / "ca.crt").read_bytes())
    cert.verify_directly_issued_by(ca_cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "ALICE-01"
    assert cert.not_valid_before_utc == start
    assert cert.not_valid_after_utc == start + timedelta(days=30)
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign
    assert state.ca_certificate_der == ca_cert.public_bytes(Encoding.DER)


def test_issue_card_signature_half(card_ca: Path, tmp_path: Path) -> None:
    out = tmp_path / "sig.json"
    issue_card(card_ca, out, "0420", card_id="ALICE-02", sign_password="ALICE2026X")
    state = load_state(out)
    assert state.signature is not None
    assert state.signature.password == "ALICE2026X" and state.signature.tries_left == 5
    ca_cert = x509.load_pem_x509_certificate((card_ca / "ca.crt").read_bytes())
    auth = x509.load_der_x509_certificate(state.certificate_der)
    sign = x509.load_der_x509_certificate(state.signature.certificate_der)
    sign.verify_directly_issued_by(ca_cert)
    assert state.signature.ca_certificate_der == ca_cert.public_bytes(Encoding.DER)
    assert sign.subject == auth.subject and sign.serial_number != auth.serial_number
    assert sign.public_key() != auth.public_key()  # two keys, as on the real card
    usage = sign.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment  # nonRepudiation
    auth_usage = auth.extensions.get_extension_for_class(x509.KeyUsage).value
    assert not auth_usage.content_commitment


def test_issue_card_generates_a_signature_password_when_omitted(card_ca: Path, tmp_path: Path) -> None:
    passwords = set()
    for name in ("a.json", "b.json"):
        issue_card(card_ca, tmp_path / name, "1111")
        half = load_state(tmp_path / name).signature
        assert half is not None
        assert 6 <= len(half.password) <= 16 and half.password.isalnum()
        assert half.password == half.password.upper() and half.password.isascii()
        passwords.add(half.password)
    assert len(passwords) == 2


@pytest.mark.parametrize(
    "password", ["ABC12", "A" * 17, "abc123", "ABC 123", "ABC-123", "ＡＢＣ１２３", "", "ÄBC123"]
)
def test_issue_card_rejects_bad_signature_passwords(card_ca: Path, tmp_path: Path, password: str) -> None:
    with pytest.raises(SignPasswordFormatError, match="6-16 upper-case letters") as err:
        issue_card(card_ca, tmp_path / "x.json", "1234", sign_password=password)
    assert err.value.code == "sign_password_format"
    assert not (tmp_path / "x.json").exists()


def test_issue_card_random_id_and_serial(card_ca: Path, tmp_path: Path) -> None:
    a = issue_card(card_ca, tmp_path / "a.json", "1111")
    b = issue_card(card_ca, tmp_path / "b.json", "1111")
    assert a != b and a.startswith("JPKI-")
    serials = {
        x509.load_der_x509_certificate(load_state(tmp_path / f).certificate_der).serial_number
        for f in ("a.json", "b.json")
    }
    assert len(serials) == 2


@pytest.mark.parametrize("pin", ["123", "12345", "abcd", "12 4", "１２３４", "", "12.4"])
def test_issue_card_rejects_bad_pins(card_ca: Path, tmp_path: Path, pin: str) -> None:
    with pytest.raises(ValueError, match="exactly 4 digits"):
        issue_card(card_ca, tmp_path / "x.json", pin)
    assert not (tmp_path / "x.json").exists()


def test_issue_card_refuses_to_overwrite_and_bad_ids(card_ca: Path, tmp_path: Path) -> None:
    out = tmp_path / "c.json"
    issue_card(card_ca, out, "1234")
    with pytest.raises(FileExistsError):
        issue_card(card_ca, out, "1234")
    with pytest.raises(ValueError, match="card id"):
        issue_card(card_ca, tmp_path / "d.json", "1234", card_id="CN=evil,O=x")


def test_issue_card_without_ca(tmp_path: Path) -> None:
    with pytest.raises(CardCaError, match="init-ca"):
        issue_card(tmp_path / "nope", tmp_path / "c.json", "1234")


def test_damaged_card_files(card_ca: Path, tmp_path: Path) -> None:
    with pytest.raises(CardFileError, match="does not exist"):
        load_state(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CardFileError, match="not valid JSON"):
        load_state(bad)
    bad.write_text(json.dumps({"format": "something else"}))
    with pytest.raises(CardFileError, match="not a virtual card"):
        load_state(bad)
    bad.write_text(json.dumps({"format": "konbini-virtual-jpki/1", "card_id": "x"}))
    with pytest.raises(CardFileError, match="damaged"):
        load_state(bad)
    whole = tmp_path / "whole.json"
    issue_card(card_ca, whole, "1234")
    data = json.loads(whole.read_text())
    data["signature"] = {"password": "ABCDEF"}  # a format /2 file with half a signature half
    bad.write_text(json.dumps(data))
    with pytest.raises(CardFileError, match="damaged"):
        load_state(bad)


@pytest.mark.parametrize(
    ("apdu", "asked"),
    [
        (p.select_ef(p.EF_AUTH_CERT), 0),  # case 3
        (p.verify_status(), 0),  # case 1
        (p.read_binary(0, 4), 4),  # case 2
        (p.read_binary(0, 256), 256),  # Le 00
        (p.compute_signature(p.sha256_digest_info(bytes(32))), 256),  # case 4, Le 00
        (bytes.fromhex("00A4020C02000A10"), 16),  # case 4
    ],
)
def test_expected_length_of_an_apdu(apdu: bytes, asked: int) -> None:
    assert expected_length(apdu) == asked


def test_profile_apdus() -> None:
    assert p.select_aid().hex().upper() == "00A4040C0AD392F000260100000001"
    assert p.select_ef(p.EF_AUTH_CERT).hex().upper() == "00A4020C02000A"
    assert p.read_binary(0x0104, 256).hex().upper() == "00B0010400"
    assert p.verify_pin("1234").hex().upper() == "002000800431323334"
    assert p.verify_status().hex().upper() == "00200080"
    digest_info = p.sha256_digest_info(bytes(32))
    assert len(digest_info) == 51
    assert p.compute_signature(digest_info).hex().upper().startswith("802A008033")
    assert p.compute_signature(digest_info)[-1] == 0
    for bad in ("123", "12345", "abcd", "１２３４"):
        with pytest.raises(ValueError):
            p.verify_pin(bad)
    with pytest.raises(ValueError):
        p.read_binary(0x8000, 1)
    with pytest.raises(ValueError):
        p.sha256_digest_info(bytes(20))
    assert sw_name(0x63C1) == "verification failed, 1 tries left"
