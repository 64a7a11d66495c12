"""Unit tests of the virtual card's signature half and of what OpenSC's JPKI driver relies on (APDUs
straight into the applet, no sockets)."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card import profile as p
from devices.card.apdu import StatusWord, pin_tries_sw
from devices.card.virtual.applet import VirtualCard
from devices.card.virtual.state import FORMAT_AUTH_ONLY, load_state
from tests.devices.applet_apdus import ok, sw

PIN = "1234"
SIGN_PASSWORD = "KONBINI2026"  # conftest's card


def select(card: VirtualCard, fid: int) -> None:
    ok(card, p.select_aid())
    ok(card, p.select_ef(fid))


def verify_apdu(secret: str) -> bytes:
    return bytes([0x00, p.INS_VERIFY, 0x00, p.P2_VERIFY_PIN, len(secret)]) + secret.encode("ascii")


def verify_sign(card: VirtualCard, password: str) -> int:
    ok(card, p.select_ef(p.EF_SIGN_PIN))
    return sw(card.process(verify_apdu(password)))


def read_sized_by_header(card: VirtualCard) -> bytes:
    """Read the selected certificate EF as OpenSC's driver does: 4 bytes, then the size they give."""
    head = ok(card, p.read_binary(0, 4))
    size = int.from_bytes(head[2:4], "big") + 4
    data = b""
    while len(data) < size:
        data += ok(card, p.read_binary(len(data), min(256, size - len(data))))
    return data


def rsa_public(der: bytes) -> rsa.RSAPublicKey:
    key = x509.load_der_x509_certificate(der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_certificate_efs_give_their_der_length_in_the_first_four_bytes(
    card: VirtualCard, card_file: Path
) -> None:
    state = load_state(card_file)
    assert state.signature is not None
    ok(card, p.select_aid())
    assert verify_sign(card, SIGN_PASSWORD) == StatusWord.OK
    expected = {
        p.EF_AUTH_CERT: state.certificate_der,
        p.EF_AUTH_CA_CERT: state.ca_certificate_der,
        p.EF_SIGN_CERT: state.signature.certificate_der,
        p.EF_SIGN_CA_CERT: state.signature.ca_certificate_der,
    }
    for fid, der in expected.items():
        ok(card, p.select_ef(fid))
        assert len(der) > 256  # a long file: several READ BINARY at growing offsets
        assert read_sized_by_header(card) == der
        assert sw(card.process(p.read_binary(len(der), 1))) == StatusWord.WRONG_OFFSET


def test_signature_certificate_is_refused_until_the_signature_password(card: VirtualCard) -> None:
    select(card, p.EF_SIGN_CERT)  # selecting is allowed; reading is not
    assert card.process(p.read_binary(0, 4)) == StatusWord.SECURITY_NOT_SATISFIED.to_bytes(2, "big")
    ok(card, p.select_ef(p.EF_AUTH_PIN))
    ok(card, p.verify_pin(PIN))  # the authentication PIN does not open the signature half
    ok(card, p.select_ef(p.EF_SIGN_CERT))
    assert sw(card.process(p.read_binary(0, 4))) == StatusWord.SECURITY_NOT_SATISFIED
    ok(card, p.select_ef(p.EF_SIGN_CA_CERT))  # its CA certificate is public
    assert ok(card, p.read_binary(0, 4))[:2] == b"\x30\x82"
    assert verify_sign(card, SIGN_PASSWORD) == StatusWord.OK
    ok(card, p.select_ef(p.EF_SIGN_CERT))
    assert ok(card, p.read_binary(0, 4))[:2] == b"\x30\x82"


def test_signature_password_counts_down_five_tries_then_blocks(card: VirtualCard, card_file: Path) -> None:
    select(card, p.EF_SIGN_PIN)
    assert card.process(p.verify_status()) == b"\x63\xc5"
    for left in (4, 3, 2, 1, 0):
        assert verify_sign(card, "WRONG1") == pin_tries_sw(left)
    assert verify_sign(card, SIGN_PASSWORD) == StatusWord.PIN_BLOCKED
    assert card.process(p.verify_status()) == b"\x63\xc0"  # the status query of a blocked password
    state = load_state(card_file)
    assert state.signature is not None and state.signature.tries_left == 0
    assert state.tries_left == p.PIN_MAX_TRIES  # the authentication PIN is a counter of its own
    ok(card, p.select_ef(p.EF_AUTH_PIN))
    assert card.process(p.verify_status()) == b"\x63\xc3"


def test_right_signature_password_resets_its_counter(card: VirtualCard, card_file: Path) -> None:
    ok(card, p.select_aid())
    assert verify_sign(card, "ABCDEF") == 0x63C4
    assert verify_sign(card, SIGN_PASSWORD.lower()) == 0x63C3  # upper-case only: lower case is wrong
    assert verify_sign(card, SIGN_PASSWORD) == StatusWord.OK
    state = load_state(card_file)
    assert state.signature is not None and state.signature.tries_left == p.SIGN_PASSWORD_MAX_TRIES


@pytest.mark.parametrize("length", [1, 5, 17])
def test_signature_password_of_a_wrong_length_uses_no_try(card: VirtualCard, length: int) -> None:
    ok(card, p.select_aid())
    assert verify_sign(card, "A" * length) == StatusWord.WRONG_LENGTH
    assert card.process(p.verify_status()) == b"\x63\xc5"


def test_each_key_signs_only_after_its_own_secret(card: VirtualCard, card_file: Path) -> None:
    state = load_state(card_file)
    assert state.signature is not None
    digest = hashlib.sha256(b"a document").digest()
    sign = p.compute_signature(p.sha256_digest_info(digest))
    select(card, p.EF_AUTH_PIN)
    ok(card, p.verify_pin(PIN))
    ok(card, p.select_ef(p.EF_SIGN_KEY))
    assert sw(card.process(sign)) == StatusWord.SECURITY_NOT_SATISFIED
    assert verify_sign(card, SIGN_PASSWORD) == StatusWord.OK
    ok(card, p.select_ef(p.EF_SIGN_KEY))
    by_sign_key = ok(card, sign)
    ok(card, p.select_ef(p.EF_AUTH_KEY))
    by_auth_key = ok(card, sign)  # both verifications hold side by side
    pkcs1, sha256 = padding.PKCS1v15(), Prehashed(hashes.SHA256())
    rsa_public(state.signature.certificate_der).verify(by_sign_key, digest, pkcs1, sha256)
    rsa_public(state.certificate_der).verify(by_auth_key, digest, pkcs1, sha256)
    assert by_sign_key != by_auth_key
    card.reset()
    select(card, p.EF_SIGN_KEY)
    assert sw(card.process(sign)) == StatusWord.SECURITY_NOT_SATISFIED


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        ("00C0000010", StatusWord.INS_NOT_SUPPORTED),  # GET RESPONSE: the card never leaves data waiting
        ("002400800831323334353637AB", StatusWord.INS_NOT_SUPPORTED),  # CHANGE REFERENCE DATA
        ("002C000000", StatusWord.INS_NOT_SUPPORTED),  # RESET RETRY COUNTER
        ("002241B6", StatusWord.INS_NOT_SUPPORTED),  # MANAGE SECURITY ENVIRONMENT
        (
            "002A9E9A00",
            StatusWord.CLA_NOT_SUPPORTED,
        ),  # ISO PERFORM SECURITY OPERATION: JPKI signs with CLA 80
        ("00A4000C023F00", StatusWord.WRONG_P1P2),  # SELECT MF by file id: the driver keeps a virtual MF
        ("00A4020002000A", StatusWord.WRONG_P1P2),  # SELECT asking for the FCI
        ("00A4020C02000A00", StatusWord.WRONG_LENGTH),  # SELECT with Le
    ],
)
def test_unsupported_commands_get_iso_answers(card: VirtualCard, apdu: str, expected: int) -> None:
    ok(card, p.select_aid())
    assert sw(card.process(bytes.fromhex(apdu))) == expected


def test_auth_only_card_file_loads_and_says_to_re_personalise(
    card_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = json.loads(card_file.read_text())
    del data["signature"]
    data["format"] = FORMAT_AUTH_ONLY
    card_file.write_text(json.dumps(data))
    with caplog.at_level(logging.WARNING):
        card = VirtualCard.from_file(card_file)
    assert not card.has_signature_half
    assert "re-personalise" in caplog.text and PIN not in caplog.text
    select(card, p.EF_AUTH_PIN)
    assert sw(card.process(p.verify_pin("0000"))) == 0x63C2  # the authentication half works as before
    for fid in (p.EF_SIGN_CERT, p.EF_SIGN_CA_CERT, p.EF_SIGN_KEY, p.EF_SIGN_PIN):
        assert sw(card.process(p.select_ef(fid))) == StatusWord.FILE_NOT_FOUND
    saved = json.loads(card_file.read_text())
    assert saved["format"] == FORMAT_AUTH_ONLY and "signature" not in saved and saved["tries_left"] == 2


def test_card_never_shows_the_signature_password(card: VirtualCard, card_file: Path) -> None:
    state = load_state(card_file)
    assert SIGN_PASSWORD not in repr(card) + repr(state) + repr(state.signature)
