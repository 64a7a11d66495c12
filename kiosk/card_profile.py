"""The JPKI (My Number card) application profile: identifiers, APDU builders and status words.

APDUs follow OpenSC's ``card-jpki.c``; the virtual card and the kiosk's card layer both use this module,
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

# Status words.
SW_OK: Final = 0x9000
SW_END_OF_FILE: Final = 0x6282  # fewer bytes than Le: end of file reached
SW_WRONG_LENGTH: Final = 0x6700
SW_INCOMPATIBLE_FILE: Final = 0x6981  # command incompatible with the file structure
SW_SECURITY_NOT_SATISFIED: Final = 0x6982
SW_PIN_BLOCKED: Final = 0x6983
SW_NO_CURRENT_EF: Final = 0x6986
SW_WRONG_DATA: Final = 0x6A80
SW_FILE_NOT_FOUND: Final = 0x6A82
SW_WRONG_P1P2: Final = 0x6A86
SW_WRONG_OFFSET: Final = 0x6B00
SW_INS_NOT_SUPPORTED: Final = 0x6D00
SW_CLA_NOT_SUPPORTED: Final = 0x6E00
SW_PIN_TRIES_MASK: Final = 0x63C0  # 63Cx: verification failed / x tries left

SW_NAMES: Final[dict[int, str]] = {
    SW_OK: "success",
    SW_END_OF_FILE: "end of file reached",
    SW_WRONG_LENGTH: "wrong length",
    SW_INCOMPATIBLE_FILE: "command incompatible with file",
    SW_SECURITY_NOT_SATISFIED: "security status not satisfied (PIN not verified)",
    SW_PIN_BLOCKED: "PIN blocked",
    SW_NO_CURRENT_EF: "no file selected",
    SW_WRONG_DATA: "wrong data",
    SW_FILE_NOT_FOUND: "file or application not found",
    SW_WRONG_P1P2: "wrong P1/P2",
    SW_WRONG_OFFSET: "offset beyond end of file",
    SW_INS_NOT_SUPPORTED: "instruction not supported",
    SW_CLA_NOT_SUPPORTED: "class not supported",
}


def sw_name(sw: int) -> str:
    """A short English name for a status word (for error messages and logs)."""
    if sw & 0xFFF0 == SW_PIN_TRIES_MASK:
        return f"verification failed, {sw & 0x0F} tries left"
    return SW_NAMES.get(sw, "unknown status")


def pin_tries_sw(tries_left: int) -> int:
    """The 63Cx status word for ``tries_left`` (0..15)."""
    return SW_PIN_TRIES_MASK | (tries_left & 0x0F)


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


def expected_length(apdu: bytes) -> int:
    """The most response data a short command APDU asks for: its Le (00 = 256), or 0 without Le."""
    if len(apdu) <= 4:
        return 0
    if len(apdu) == 5:  # case 2: header + Le
        return apdu[4] or 256
    return 0 if len(apdu) == 5 + apdu[4] else apdu[-1] or 256  # case 3 (no Le) or case 4


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
