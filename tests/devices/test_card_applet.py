"""Unit tests of the virtual card's APDU logic (no sockets, no pcscd)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card import profile as p
from devices.card.apdu import StatusWord, pin_tries_sw
from devices.card.virtual.applet import VirtualCard, parse_apdu
from devices.card.virtual.ca import load_ca
from devices.card.virtual.state import load_state
from tests.devices.applet_apdus import ok, sw
from tests.devices.conftest import IDENTITY, IDENTITY_PIN
from wire import card_identity

PIN = "1234"


def selected(card: VirtualCard, fid: int | None = None) -> VirtualCard:
    ok(card, p.select_aid())
    if fid is not None:
        ok(card, p.select_ef(fid))
    return card


def read_all(card: VirtualCard, fid: int) -> bytes:
    selected(card, fid)
    data = b""
    while True:
        resp = card.process(p.read_binary(len(data), 256))
        data += resp[:-2]
        if sw(resp) == StatusWord.END_OF_FILE:
            return data
        assert sw(resp) == StatusWord.OK


def verify(card: VirtualCard, pin: str) -> int:
    selected(card, p.EF_AUTH_PIN)
    return sw(card.process(p.verify_pin(pin)))


# -- parsing and dispatch --------------------------------------------------------------------------------


def test_parse_apdu_cases() -> None:
    assert parse_apdu(bytes.fromhex("00200080")) == p_apdu(0x00, 0x20, 0x00, 0x80, b"", None)
    assert parse_apdu(bytes.fromhex("00B0000000")) == p_apdu(0x00, 0xB0, 0, 0, b"", 256)
    assert parse_apdu(bytes.fromhex("00A4020C02000A")) == p_apdu(0x00, 0xA4, 2, 0x0C, b"\x00\x0a", None)
    assert parse_apdu(bytes.fromhex("802A0080020102" + "10")) == p_apdu(0x80, 0x2A, 0, 0x80, b"\x01\x02", 16)
    assert parse_apdu(b"\x00\xb0\x00") is None
    assert parse_apdu(bytes.fromhex("00B00000000100")) is None  # extended length
    assert parse_apdu(bytes.fromhex("00A4020C0300")) is None  # Lc says 3, 1 byte follows


def p_apdu(cla: int, ins: int, p1: int, p2: int, data: bytes, le: int | None) -> object:
    from devices.card.virtual.applet import Apdu

    return Apdu(cla, ins, p1, p2, data, le)


@pytest.mark.parametrize(
    ("apdu", "expected"),
    [
        ("00B000", StatusWord.WRONG_LENGTH),  # shorter than a header
        ("00B00000000100", StatusWord.WRONG_LENGTH),  # extended length
        ("00A4040C0AD392", StatusWord.WRONG_LENGTH),  # Lc larger than the data
        ("00CA000000", StatusWord.INS_NOT_SUPPORTED),  # GET DATA: not in the profile
        ("0084000008", StatusWord.INS_NOT_SUPPORTED),  # GET CHALLENGE
        ("002A00800100" + "00", StatusWord.CLA_NOT_SUPPORTED),  # sign needs CLA 80
        ("80A4040C0AD392F000260100000001", StatusWord.CLA_NOT_SUPPORTED),  # select needs CLA 00
        ("10A4040C0AD392F000260100000001", StatusWord.CLA_NOT_SUPPORTED),  # command chaining
        ("0CB0000004", StatusWord.CLA_NOT_SUPPORTED),  # secure messaging
        ("A0B0000004", StatusWord.CLA_NOT_SUPPORTED),
    ],
)
def test_malformed_or_unsupported(card: VirtualCard, apdu: str, expected: int) -> None:
    assert card.process(bytes.fromhex(apdu)) == expected.to_bytes(2, "big")


def test_atr_is_the_my_number_card_atr(card: VirtualCard) -> None:
    assert card.atr == bytes.fromhex("3BE000FF8131FE4514")


# -- SELECT --------------------------------------------------------------------------------------------


ALL_EFS = (
    *(p.EF_AUTH_CERT, p.EF_AUTH_CA_CERT, p.EF_AUTH_KEY, p.EF_AUTH_PIN),
    *(p.EF_SIGN_CERT, p.EF_SIGN_CA_CERT, p.EF_SIGN_KEY, p.EF_SIGN_PIN),
)


def test_select_application_and_files_of_both_halves(card: VirtualCard) -> None:
    assert card.process(p.select_aid()) == b"\x90\x00"
    for fid in ALL_EFS:
        assert card.process(p.select_ef(fid)) == b"\x90\x00"


def test_select_errors(card: VirtualCard) -> None:
    assert (
        sw(card.process(p.select_aid(bytes.fromhex("A000000063504B43532D3135")))) == StatusWord.FILE_NOT_FOUND
    )
    assert (
        sw(card.process(p.select_ef(p.EF_AUTH_CERT))) == StatusWord.FILE_NOT_FOUND
    )  # application not selected
    ok(card, p.select_aid())
    assert sw(card.process(p.select_ef(0x0003))) == StatusWord.FILE_NOT_FOUND  # no such EF in the application
    assert sw(card.process(p.select_ef(0x3F00))) == StatusWord.FILE_NOT_FOUND
    assert sw(card.process(bytes.fromhex("00A4020C03000A00"))) == StatusWord.WRONG_LENGTH
    assert sw(card.process(bytes.fromhex("00A4020C00"))) == StatusWord.WRONG_LENGTH  # no file id
    assert sw(card.process(bytes.fromhex("00A40400") + bytes([10]) + p.AID_JPKI)) == StatusWord.WRONG_P1P2
    assert sw(card.process(bytes.fromhex("00A4010C02000A"))) == StatusWord.WRONG_P1P2
    assert sw(card.process(bytes.fromhex("00A4080C02000A"))) == StatusWord.WRONG_P1P2


# -- READ BINARY ---------------------------------------------------------------------------------------


def test_read_certificates(card: VirtualCard, card_file: Path) -> None:
    state = load_state(card_file)
    assert read_all(card, p.EF_AUTH_CERT) == state.certificate_der
    assert read_all(card, p.EF_AUTH_CA_CERT) == state.ca_certificate_der
    selected(card, p.EF_AUTH_CERT)
    head = ok(card, p.read_binary(0, 4))
    assert head[:2] == b"\x30\x82"
    assert int.from_bytes(head[2:4], "big") + 4 == len(state.certificate_der)


def test_read_binary_at_and_beyond_end(card: VirtualCard, card_file: Path) -> None:
    cert = load_state(card_file).certificate_der
    selected(card, p.EF_AUTH_CERT)
    resp = card.process(p.read_binary(len(cert) - 3, 16))
    assert resp == cert[-3:] + StatusWord.END_OF_FILE.to_bytes(2, "big")
    assert card.process(p.read_binary(len(cert) - 3, 3)) == cert[-3:] + b"\x90\x00"
    assert sw(card.process(p.read_binary(len(cert), 1))) == StatusWord.WRONG_OFFSET
    assert sw(card.process(p.read_binary(0x7FFF, 1))) == StatusWord.WRONG_OFFSET


def test_read_binary_errors(card: VirtualCard) -> None:
    ok(card, p.select_aid())
    assert sw(card.process(p.read_binary(0, 4))) == StatusWord.NO_CURRENT_EF
    ok(card, p.select_ef(p.EF_AUTH_CERT))
    assert sw(card.process(bytes.fromhex("00B00000"))) == StatusWord.WRONG_LENGTH  # no Le
    assert sw(card.process(bytes.fromhex("00B000000100"))) == StatusWord.WRONG_LENGTH  # data instead of Le
    assert sw(card.process(bytes.fromhex("00B0810004"))) == StatusWord.WRONG_P1P2  # short EF id addressing
    for secret_ef in (p.EF_AUTH_KEY, p.EF_AUTH_PIN, p.EF_SIGN_KEY, p.EF_SIGN_PIN):
        ok(card, p.select_ef(secret_ef))
        assert card.process(p.read_binary(0, 4)) == StatusWord.INCOMPATIBLE_FILE.to_bytes(2, "big")


# -- VERIFY --------------------------------------------------------------------------------------------


def test_verify_status_without_data(card: VirtualCard) -> None:
    selected(card, p.EF_AUTH_PIN)
    assert card.process(p.verify_status()) == b"\x63\xc3"
    assert card.process(p.verify_status()) == b"\x63\xc3"  # asking uses no attempt


def test_verify_right_pin(card: VirtualCard) -> None:
    assert verify(card, PIN) == StatusWord.OK
    assert card.process(p.verify_status()) == b"\x63\xc3"


def test_wrong_pins_count_down_then_block_even_the_right_pin(card: VirtualCard, card_file: Path) -> None:
    assert verify(card, "0000") == 0x63C2
    assert verify(card, "9999") == 0x63C1
    assert verify(card, "1235") == 0x63C0
    assert verify(card, PIN) == StatusWord.PIN_BLOCKED
    assert card.process(p.verify_status()) == b"\x63\xc0"
    assert load_state(card_file).tries_left == 0
    ok(card, p.select_ef(p.EF_AUTH_KEY))
    digest_info = p.sha256_digest_info(bytes(32))
    assert sw(card.process(p.compute_signature(digest_info))) == StatusWord.SECURITY_NOT_SATISFIED


def test_right_pin_resets_the_counter(card: VirtualCard, card_file: Path) -> None:
    assert verify(card, "0000") == 0x63C2
    assert verify(card, "1111") == 0x63C1
    assert load_state(card_file).tries_left == 1
    assert verify(card, PIN) == StatusWord.OK
    assert load_state(card_file).tries_left == 3


def test_retry_counter_persists_across_card_restarts(card_file: Path) -> None:
    assert verify(VirtualCard.from_file(card_file), "0000") == 0x63C2
    again = selected(VirtualCard.from_file(card_file), p.EF_AUTH_PIN)
    assert again.process(p.verify_status()) == b"\x63\xc2"
    assert oct(card_file.stat().st_mode & 0o777) == "0o600"


def test_verify_errors_use_no_attempt(card: VirtualCard) -> None:
    ok(card, p.select_aid())
    assert sw(card.process(p.verify_pin(PIN))) == StatusWord.NO_CURRENT_EF  # PIN EF not selected
    ok(card, p.select_ef(p.EF_AUTH_CERT))
    assert sw(card.process(p.verify_pin(PIN))) == StatusWord.NO_CURRENT_EF
    ok(card, p.select_ef(p.EF_AUTH_PIN))
    assert sw(card.process(bytes.fromhex("0020008003313233"))) == StatusWord.WRONG_LENGTH
    assert (
        sw(card.process(bytes.fromhex("002000800531323334 35".replace(" ", "")))) == StatusWord.WRONG_LENGTH
    )
    assert sw(card.process(bytes.fromhex("002000810431323334"))) == StatusWord.WRONG_P1P2
    assert sw(card.process(bytes.fromhex("002001800431323334"))) == StatusWord.WRONG_P1P2
    assert sw(card.process(bytes.fromhex("00200080043132333400"))) == StatusWord.WRONG_LENGTH  # Le on VERIFY
    assert sw(card.process(bytes.fromhex("0020008000"))) == StatusWord.WRONG_LENGTH  # case 2
    assert card.process(p.verify_status()) == b"\x63\xc3"


def test_non_digit_pin_counts_as_wrong(card: VirtualCard) -> None:
    selected(card, p.EF_AUTH_PIN)
    assert card.process(bytes.fromhex("0020008004") + b"12a4") == b"\x63\xc2"


# -- COMPUTE SIGNATURE ---------------------------------------------------------------------------------


def _public_key(card_file: Path) -> rsa.RSAPublicKey:
    key = x509.load_der_x509_certificate(load_state(card_file).certificate_der).public_key()
    assert isinstance(key, rsa.RSAPublicKey)
    return key


def test_sign_after_pin_verifies_with_certificate_key(card: VirtualCard, card_file: Path) -> None:
    digest = hashlib.sha256(b"konbini-kiosk-auth/1|kiosk|session|nonce").digest()
    assert verify(card, PIN) == StatusWord.OK
    ok(card, p.select_ef(p.EF_AUTH_KEY))
    signature = ok(card, p.compute_signature(p.sha256_digest_info(digest)))
    assert len(signature) == 256
    _public_key(card_file).verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    # still verified: a second signature works within the session
    ok(card, p.compute_signature(p.sha256_digest_info(digest)))


def test_sign_accepts_sha384_digest_info(card: VirtualCard, card_file: Path) -> None:
    digest = hashlib.sha384(b"x").digest()
    prefix = bytes.fromhex("3041300d060960864801650304020205000430")
    assert verify(card, PIN) == StatusWord.OK
    ok(card, p.select_ef(p.EF_AUTH_KEY))
    signature = ok(card, p.compute_signature(prefix + digest))
    _public_key(card_file).verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA384()))


def test_sign_before_pin_is_refused(card: VirtualCard) -> None:
    selected(card, p.EF_AUTH_KEY)
    resp = card.process(p.compute_signature(p.sha256_digest_info(bytes(32))))
    assert resp == StatusWord.SECURITY_NOT_SATISFIED.to_bytes(2, "big")


def test_sign_errors(card: VirtualCard) -> None:
    digest_info = p.sha256_digest_info(bytes(32))
    assert verify(card, PIN) == StatusWord.OK
    assert sw(card.process(p.compute_signature(digest_info))) == StatusWord.NO_CURRENT_EF  # PIN EF selected
    ok(card, p.select_ef(p.EF_AUTH_KEY))
    no_le = p.compute_signature(digest_info)[:-1]
    assert sw(card.process(no_le)) == StatusWord.WRONG_LENGTH
    assert (
        sw(card.process(p.compute_signature(digest_info)[:-1] + b"\x80")) == StatusWord.WRONG_LENGTH
    )  # Le 128
    assert sw(card.process(bytes.fromhex("802A9E9A") + p.compute_signature(digest_info)[4:])) == 0x6A86
    assert (
        sw(card.process(bytes.fromhex("802A0080020102" + "00"))) == StatusWord.WRONG_DATA
    )  # not a DigestInfo
    assert sw(card.process(p.compute_signature(digest_info + b"\x00"))) == StatusWord.WRONG_DATA
    assert sw(card.process(bytes.fromhex("802A00800000"))) == StatusWord.WRONG_LENGTH  # extended / empty


@pytest.mark.parametrize("how", ["reset", "power_off", "reselect"])
def test_pin_verification_is_forgotten(card: VirtualCard, how: str) -> None:
    assert verify(card, PIN) == StatusWord.OK
    if how == "reselect":
        ok(card, p.select_aid())
    else:
        getattr(card, how)()
        ok(card, p.select_aid())
    ok(card, p.select_ef(p.EF_AUTH_KEY))
    resp = card.process(p.compute_signature(p.sha256_digest_info(bytes(32))))
    assert sw(resp) == StatusWord.SECURITY_NOT_SATISFIED


def test_failed_verify_clears_verification(card: VirtualCard) -> None:
    assert verify(card, PIN) == StatusWord.OK
    assert verify(card, "0000") == 0x63C2
    ok(card, p.select_ef(p.EF_AUTH_KEY))
    resp = card.process(p.compute_signature(p.sha256_digest_info(bytes(32))))
    assert sw(resp) == StatusWord.SECURITY_NOT_SATISFIED


def test_card_never_shows_pin_or_key(card: VirtualCard, card_file: Path) -> None:
    state = load_state(card_file)
    assert PIN not in repr(card) and PIN not in repr(state)
    assert "PRIVATE" not in repr(state)


def identity_apdus(card: VirtualCard, pin: str) -> tuple[int, bytes, bytes]:
    """SELECT the 券面事項入力補助 application, VERIFY its PIN, read EF 0002 and 0003: (SW of VERIFY, files)."""
    assert card.process(p.select_aid(card_identity.AID_KENHOJO))[-2:] == b"\x90\x00"
    card.process(p.select_ef(card_identity.EF_IDENTITY_PIN))
    sw = int.from_bytes(card.process(p.verify_pin(pin))[-2:], "big")
    files = []
    for fid in (card_identity.EF_BASIC_FOUR, card_identity.EF_SIGNATURE):
        card.process(p.select_ef(fid))
        content = b""
        while (answer := card.process(p.read_binary(len(content), 256)))[-2:] in (b"\x90\x00", b"\x62\x82"):
            content += answer[:-2]
            if answer[-2:] == b"\x62\x82":
                break
        files.append(content)
    return sw, files[0], files[1]


def test_the_cards_identity_is_read_after_its_own_pin_and_verifies_with_the_issuer(
    card: VirtualCard, card_ca: Path
) -> None:
    assert card.process(p.select_aid(card_identity.AID_KENHOJO))[-2:] == b"\x90\x00"
    card.process(p.select_ef(card_identity.EF_BASIC_FOUR))
    assert card.process(p.read_binary(0, 16)) == b"\x69\x82"  # not before the PIN
    sw, _, _ = identity_apdus(card, PIN)  # the JPKI PIN is not this application's
    assert sw == pin_tries_sw(2)
    sw, basic_four, signed = identity_apdus(card, IDENTITY_PIN)
    assert sw == StatusWord.OK
    _, ca_cert = load_ca(card_ca)
    public = ca_cert.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    assert card_identity.verified_identity(basic_four, signed, public) == IDENTITY
    assert card.process(p.select_aid())[-2:] == b"\x90\x00"  # back to JPKI: its own files again
    card.process(p.select_ef(p.EF_AUTH_CERT))
    assert card.process(p.read_binary(0, 4))[:2] == b"\x30\x82"
