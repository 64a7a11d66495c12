"""The JPKI (My Number card) application profile: identifiers and APDU builders (status words are in
:mod:`devices.card.apdu`).

APDUs follow OpenSC's ``card-jpki.c``; the virtual card and the card layer both use this module,
so the two sides cannot drift apart.
"""

from __future__ import annotations

from typing import Final

AID_JPKI: Final = bytes.fromhex("D392F000260100000001")
ATR_JPKI: Final = bytes.fromhex("3BE000FF8131FE4514")  # the My Number card's ATR (T=1), as in OpenSC

EF_AUTH_CERT: Final = 0x000A  # authentication certificate (DER), readable without PIN
EF_AUTH_CA_CERT: Final = 0x000B  # the CA certificate of the authentication certificate
EF_AUTH_KEY: Final = 0x0017  # authentication private key (never readable)
EF_AUTH_PIN: Final = 0x0018  # authentication PIN (4 digits)
EF_SIGN_CERT: Final = 0x0001  # signature certificate (DER), readable only after the signature password
EF_SIGN_CA_CERT: Final = 0x0002  # the CA certificate of the signature certificate
EF_SIGN_KEY: Final = 0x001A  # signature private key (never readable)
EF_SIGN_PIN: Final = 0x001B  # signature password (6-16 upper-case letters and digits)

PIN_LENGTH: Final = 4
PIN_MAX_TRIES: Final = 3
SIGN_PASSWORD_MIN: Final = 6
SIGN_PASSWORD_MAX: Final = 16
SIGN_PASSWORD_MAX_TRIES: Final = 5
SIGN_PASSWORD_ALPHABET: Final = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"  # noqa: S105  a name or label, not a secret
MAX_CERT_SIZE: Final = 0x3FFF  # sanity bound for a certificate EF
READ_CHUNK: Final = 0x100  # READ BINARY with Le=00 asks for 256 bytes

CLA_ISO: Final = 0x00
CLA_PROPRIETARY: Final = 0x80
INS_SELECT: Final = 0xA4
INS_READ_BINARY: Final = 0xB0
INS_VERIFY: Final = 0x20
INS_COMPUTE_SIGNATURE: Final = 0x2A
P1_SELECT_EF: Final = 0x02
P1_SELECT_DF_NAME: Final = 0x04
P2_SELECT_NO_FCI: Final = 0x0C
P2_VERIFY_PIN: Final = 0x80
P1_SIGN: Final = 0x00
P2_SIGN: Final = 0x80

# DER DigestInfo prefix for SHA-256 (RFC 8017, section 9.2, note 1).
SHA256_DIGESTINFO_PREFIX: Final = bytes.fromhex("3031300d060960864801650304020105000420")


def select_aid(aid: bytes = AID_JPKI) -> bytes:
    """SELECT by DF name (AID), no FCI returned: ``00 A4 04 0C Lc AID``."""
    return bytes([CLA_ISO, INS_SELECT, P1_SELECT_DF_NAME, P2_SELECT_NO_FCI, len(aid)]) + aid


def select_ef(fid: int) -> bytes:
    """SELECT EF by file id: ``00 A4 02 0C 02 <fid>``."""
    return bytes([CLA_ISO, INS_SELECT, P1_SELECT_EF, P2_SELECT_NO_FCI, 2]) + fid.to_bytes(2, "big")


def read_binary(offset: int, le: int) -> bytes:
    """READ BINARY ``00 B0 <off_hi> <off_lo> <Le>`` (``le`` 1..256; 256 is sent as 00)."""
    if not 0 <= offset <= 0x7FFF or not 1 <= le <= 256:
        raise ValueError("READ BINARY offset must be 0..32767 and Le 1..256")
    return bytes([CLA_ISO, INS_READ_BINARY, offset >> 8, offset & 0xFF, le & 0xFF])


def verify_pin(pin: str) -> bytes:
    """VERIFY ``00 20 00 80 04 <4 ASCII digits>``."""
    if len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        raise ValueError("the PIN must be exactly 4 digits")
    return bytes([CLA_ISO, INS_VERIFY, 0x00, P2_VERIFY_PIN, PIN_LENGTH]) + pin.encode("ascii")


def verify_status() -> bytes:
    """VERIFY with no data ``00 20 00 80``: the card answers 63Cx with the tries left."""
    return bytes([CLA_ISO, INS_VERIFY, 0x00, P2_VERIFY_PIN])


def sha256_digest_info(digest: bytes) -> bytes:
    """The DER DigestInfo for a SHA-256 digest (what PKCS#1 v1.5 signs)."""
    if len(digest) != 32:
        raise ValueError("a SHA-256 digest is 32 bytes")
    return SHA256_DIGESTINFO_PREFIX + digest


def compute_signature(digest_info: bytes) -> bytes:
    """COMPUTE SIGNATURE ``80 2A 00 80 Lc <DigestInfo> 00``."""
    if not 1 <= len(digest_info) <= 255:
        raise ValueError("DigestInfo must be 1..255 bytes")
    header = bytes([CLA_PROPRIETARY, INS_COMPUTE_SIGNATURE, P1_SIGN, P2_SIGN, len(digest_info)])
    return header + digest_info + b"\x00"
