"""The compact signed record printed as the certificate's QR code, and its offline verification.

Text form (ASCII only, so that no QR reader's character-set guess can garble it)::

    KB1.<base64url(payload)>.<base64url(Ed25519 signature over "KB1.<base64url(payload)>")>

Payload, version 1 (binary, then UTF-8)::

    16 bytes  content digest: the first 128 bits of the certificate's SHA-256 content digest
     5 bytes  issue time, seconds since the Unix epoch (UTC), big-endian
     3 bytes  birth date of the principal, proleptic Gregorian ordinal (date.toordinal), big-endian
     rest     UTF-8 text: serial, kind, municipality code, name, address, separated by U+001F

Version 2 (``KB2``, the print guard: issue 31) adds, after the birth date::

     1 byte   the sheet's index (1..total)
     1 byte   the certificate's number of sheets
    12 bytes  the requester tag: the first 96 bits of SHA-256("konbini requester\0" || serial || "\0" ||
              SHA-256(DER of the credential certificate the session authenticated)), see requester_tag

so a terminal that read the card (or phone) computes the tag itself and checks that every sheet it is about
to print belongs to this session's serial, to the person in front of it, and is sheet i of n.

A typical record for one person is 200-240 characters: a version-12/13 QR code at level Q.
The signature covers the version prefix, so a record cannot be replayed under another version.
Verification accepts both versions.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Final, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

PREFIX: Final = "KB1"
PREFIX_V2: Final = "KB2"
TAG_BYTES: Final = 12
JST: Final = timezone(timedelta(hours=9), "JST")
DIGEST_BYTES: Final = 16
_SEP: Final = "\x1f"
_FIXED: Final = DIGEST_BYTES + 5 + 3
_SIGNATURE_BYTES: Final = 64


class InvalidRecord(Exception):
    """A record that does not verify. ``reason`` is a stable short code.

    Reasons: ``malformed`` (not three dot-separated parts, bad base64, bad payload), ``unknown_version``
    (a ``KB<n>`` prefix this code does not know), ``bad_signature`` (not signed by this key, or altered).
    """

    def __init__(self, reason: str, detail: str = "") -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}" if detail else reason)


class CertRecord(NamedTuple):
    """What the QR carries: enough for a person holding the paper to compare, and a digest of the rest.
    (A named tuple, not a dataclass: ``dataclasses`` and ``inspect`` cost konbini-verify ~10 ms to import.)"""

    serial: str
    kind: str
    issued_at: datetime  # timezone-aware, whole seconds
    municipality_code: str
    name: str
    birth_date: date
    address: str
    content_digest: str  # hex, the first 128 bits (32 hex digits) of the certificate's content digest
    sheet: int = 0  # KB2: this sheet's index, 1..sheets (0: a KB1 record, which names no sheet)
    sheets: int = 0  # KB2: the certificate's number of sheets
    requester_tag: str = ""  # KB2: hex, see requester_tag (empty: a KB1 record)

    @property
    def version(self) -> str:
        return PREFIX_V2 if self.requester_tag else PREFIX

    def fields(self) -> list[tuple[str, str]]:
        """(name, value) pairs for display, in a fixed order; the issue time in JST."""
        return [
            ("serial", self.serial),
            ("kind", self.kind),
            ("issued_at", self.issued_at.astimezone(JST).isoformat()),
            ("municipality_code", self.municipality_code),
            ("name", self.name),
            ("birth_date", self.birth_date.isoformat()),
            ("address", self.address),
            ("content_digest", self.content_digest),
            *(
                [("sheet", f"{self.sheet}/{self.sheets}"), ("requester_tag", self.requester_tag)]
                if self.requester_tag
                else []
            ),
        ]


def requester_tag(serial: str, credential_der_sha256: bytes) -> str:
    """The tag binding a certificate's sheets to the credential its session authenticated: both the server
    (from the certificate it verified) and the terminal (from the card it read) compute it."""
    if len(credential_der_sha256) != 32:
        raise ValueError("the credential certificate's SHA-256 is 32 bytes")
    digest = hashlib.sha256(b"konbini requester\0" + serial.encode("utf-8") + b"\0" + credential_der_sha256)
    return digest.digest()[:TAG_BYTES].hex()


def digest_prefix(content_digest_hex: str) -> str:
    """The part of a full SHA-256 hex content digest that goes into a record."""
    return content_digest_hex[: DIGEST_BYTES * 2].lower()


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64d(text: str) -> bytes:
    if not text or any(ch not in _B64_ALPHABET for ch in text):
        raise InvalidRecord("malformed", "not base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise InvalidRecord("malformed", "not base64url") from exc
    if _b64e(data) != text:  # unused trailing bits set: another spelling of the same bytes
        raise InvalidRecord("malformed", "non-canonical base64url")
    return data


_B64_ALPHABET: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _check_text(label: str, value: str) -> None:
    if not value:
        raise ValueError(f"record field {label} is empty")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
        raise ValueError(f"record field {label} contains a control character")


def encode_payload(record: CertRecord) -> bytes:
    """The payload bytes of the record's version (see the module docstring)."""
    if record.issued_at.tzinfo is None or record.issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    if record.issued_at.microsecond:
        raise ValueError("issued_at must be whole seconds (the record keeps seconds)")
    digest = _hex_bytes("content_digest", record.content_digest, DIGEST_BYTES, " (use digest_prefix)")
    texts = {
        "serial": record.serial,
        "kind": record.kind,
        "municipality_code": record.municipality_code,
        "name": record.name,
        "address": record.address,
    }
    for label, value in texts.items():
        _check_text(label, value)
    seconds = int(record.issued_at.timestamp())
    if seconds < 0:
        raise ValueError("issued_at before 1970")
    return (
        digest
        + seconds.to_bytes(5, "big")
        + record.birth_date.toordinal().to_bytes(3, "big")
        + _sheet_bytes(record)
        + _SEP.join(texts.values()).encode("utf-8")
    )


def _hex_bytes(label: str, value: str, length: int, hint: str = "") -> bytes:
    try:
        data = bytes.fromhex(value)
    except ValueError as exc:
        raise ValueError(f"{label} must be hex") from exc
    if len(data) != length:
        raise ValueError(f"{label} must be {length * 2} hex digits{hint}")
    return data


def _sheet_bytes(record: CertRecord) -> bytes:
    """KB2's sheet index, total and requester tag (nothing for a KB1 record)."""
    if not record.requester_tag:
        if record.sheet or record.sheets:
            raise ValueError("a record naming its sheet needs a requester tag (KB2)")
        return b""
    tag = _hex_bytes("requester_tag", record.requester_tag, TAG_BYTES)
    if not 1 <= record.sheet <= record.sheets <= 255:
        raise ValueError("sheet must be 1..sheets, and sheets at most 255")
    return bytes((record.sheet, record.sheets)) + tag


def decode_payload(payload: bytes, version: str = PREFIX) -> CertRecord:
    """Parse a payload of ``version`` (``KB1`` or ``KB2``); raises ``InvalidRecord("malformed")``."""
    fixed = _FIXED + (2 + TAG_BYTES if version == PREFIX_V2 else 0)
    if len(payload) <= fixed:
        raise InvalidRecord("malformed", "payload too short")
    try:
        texts = payload[fixed:].decode("utf-8").split(_SEP)
        birth = date.fromordinal(int.from_bytes(payload[DIGEST_BYTES + 5 : _FIXED], "big"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRecord("malformed", "bad payload") from exc
    if len(texts) != 5 or not all(texts):
        raise InvalidRecord("malformed", "wrong number of fields")
    sheet = sheets = 0
    tag = ""
    if version == PREFIX_V2:
        sheet, sheets = payload[_FIXED], payload[_FIXED + 1]
        if not 1 <= sheet <= sheets:
            raise InvalidRecord("malformed", "sheet index outside 1..sheets")
        tag = payload[_FIXED + 2 : fixed].hex()
    serial, kind, municipality_code, name, address = texts
    seconds = int.from_bytes(payload[DIGEST_BYTES : DIGEST_BYTES + 5], "big")
    return CertRecord(
        serial=serial,
        kind=kind,
        issued_at=datetime.fromtimestamp(seconds, UTC).astimezone(JST),
        municipality_code=municipality_code,
        name=name,
        birth_date=birth,
        address=address,
        content_digest=payload[:DIGEST_BYTES].hex(),
        sheet=sheet,
        sheets=sheets,
        requester_tag=tag,
    )


def sign_record(record: CertRecord, key: Ed25519PrivateKey) -> str:
    """The record's QR text, signed with the city's issuing key."""
    signed_part = f"{record.version}.{_b64e(encode_payload(record))}"
    return f"{signed_part}.{_b64e(key.sign(signed_part.encode('ascii')))}"


VERIFY_PATH = "/verify/"


def qr_text(record_text: str, public_base_url: str) -> str:
    """What the QR code holds: a link to the city's check page whose path carries the signed record (a
    phone camera opens it), or the bare record when no public site is set."""
    return f"{public_base_url.rstrip('/')}{VERIFY_PATH}{record_text}" if public_base_url else record_text


def record_text_of(text: str) -> str:
    """The signed record in a QR text: the text itself, or the last path segment of a check-page link."""
    text = text.strip()
    if text.startswith(("https://", "http://")) and VERIFY_PATH in text:
        return text.rsplit(VERIFY_PATH, 1)[1].split("?", 1)[0].split("#", 1)[0]
    return text


def verify_record(text: str, public_key: Ed25519PublicKey) -> CertRecord:
    """The record in ``text`` (a record, or a check-page link carrying one) if its signature verifies under
    ``public_key``; else :class:`InvalidRecord`."""
    text = record_text_of(text)
    parts = text.split(".")
    if len(parts) != 3:
        raise InvalidRecord("malformed", "expected three dot-separated parts")
    version, payload_b64, signature_b64 = parts
    if version not in (PREFIX, PREFIX_V2):
        known_shape = len(version) > 2 and version.startswith("KB") and version[2:].isdigit()
        raise InvalidRecord("unknown_version" if known_shape else "malformed", version[:16])
    payload = _b64d(payload_b64)
    signature = _b64d(signature_b64)
    if len(signature) != _SIGNATURE_BYTES:
        raise InvalidRecord("malformed", "signature length")
    try:
        public_key.verify(signature, f"{version}.{payload_b64}".encode("ascii"))
    except InvalidSignature as exc:
        raise InvalidRecord("bad_signature") from exc
    return decode_payload(payload, version)


# RFC 8410: SEQUENCE { SEQUENCE { OID 1.3.101.112 (Ed25519) }, BIT STRING { the 32-byte key } }
_ED25519_SPKI_PREFIX: Final = bytes.fromhex("302a300506032b6570032100")
_PEM_PUBLIC_KEY: Final = re.compile(
    rb"\s*-----BEGIN PUBLIC KEY-----\r?\n([A-Za-z0-9+/=\s]+)-----END PUBLIC KEY-----\s*"
)


def load_public_key(path: Path) -> Ed25519PublicKey:
    """An Ed25519 public key from a PEM SubjectPublicKeyInfo file.

    A file holding just that key (as :func:`public_key_pem` writes it) is read directly: the DER of an
    Ed25519 key is always the same 12 bytes then the key, and cryptography's PEM loader costs
    ``konbini-verify`` 20 ms of imports. Any other file goes to that loader."""
    pem = Path(path).read_bytes()
    block = _PEM_PUBLIC_KEY.fullmatch(pem)
    if block is not None:
        try:
            der = base64.b64decode(b"".join(block.group(1).split()), validate=True)
        except binascii.Error:
            der = b""
        if len(der) == len(_ED25519_SPKI_PREFIX) + 32 and der.startswith(_ED25519_SPKI_PREFIX):
            return Ed25519PublicKey.from_public_bytes(der[len(_ED25519_SPKI_PREFIX) :])
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_public_key(pem)
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path}: not an Ed25519 public key")
    return key


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """An Ed25519 private key from an unencrypted PEM PKCS#8 file."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 private key")
    return key


def public_key_pem(key: Ed25519PublicKey) -> bytes:
    """PEM SubjectPublicKeyInfo, the format :func:`load_public_key` and ``konbini-verify --key`` read."""
    from cryptography.hazmat.primitives import serialization

    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """Unencrypted PEM PKCS#8; write it with mode 0600."""
    from cryptography.hazmat.primitives import serialization

    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
