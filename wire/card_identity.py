"""The card's own identity (基本4情報: name, address, birth date, sex) from its 券面事項入力補助 application,
as the card holds it and as the server checks it at registration.

On the card, after its own 4-digit PIN: EF 0002 holds the four as BER-TLV (``FF20`` with ``DF22`` name,
``DF23`` address, ``DF24`` birth date ``YYYYMMDD``, ``DF25`` sex ``1``/``2``/``3``) and EF 0003 the issuer's
signature over them (``FF30`` with ``DF32`` their SHA-256, ``DF34`` the public key of the application's
own key EF 0007, and ``DF33`` an RSA PKCS#1 v1.5 SHA-256 signature of EF 0002 and that key by the card's
issuing CA; the demo card CA stands in for J-LIS, whose real signed input may differ). The desk sends both
files as read, with the application's signature over the server's one-time challenge (COMPUTE SIGNATURE with
EF 0007, where a real card would use INTERNAL AUTHENTICATE): the server verifies the issuer's signature with
the card CA it trusts, so a desk cannot make up an identity, the challenge's signature with the vouched key,
so files seen once cannot be sent again without the card, and compares the four with the resident's record.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any, Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

AID_KENHOJO: Final = bytes.fromhex("D3921000310001010408")  # 券面事項入力補助AP
EF_BASIC_FOUR: Final = 0x0002
EF_SIGNATURE: Final = 0x0003
EF_IDENTITY_PIN: Final = 0x0011  # 券面事項入力補助用暗証番号 (4 digits)
EF_IDENTITY_KEY: Final = 0x0007  # the application's own key (signs the server's challenge)
IDENTITY_PIN_MAX_TRIES: Final = 3
SEX_CODES: Final = {"M": "1", "F": "2"}  # the registry's sex -> the card's ("3": not stated)

_BASIC_FOUR, _NAME, _ADDRESS, _BIRTH, _SEX = 0xFF20, 0xDF22, 0xDF23, 0xDF24, 0xDF25
_SIGNED, _DIGEST, _SIGNATURE, _KEY = 0xFF30, 0xDF32, 0xDF33, 0xDF34


class IdentityError(ValueError):
    """The identity files are malformed or their signature does not hold."""


@dataclass(frozen=True)
class CardIdentity:
    name: str
    address: str
    birth_date: str  # YYYY-MM-DD
    sex: str  # "1" male, "2" female, "3" not stated (the card's codes)

    def __repr__(self) -> str:  # personal data: never in logs
        return "CardIdentity(...)"


def _tlv(tag: int, value: bytes) -> bytes:
    n = len(value)
    length = (
        bytes([n]) if n < 0x80 else bytes([0x81, n]) if n < 0x100 else bytes([0x82]) + n.to_bytes(2, "big")
    )
    return tag.to_bytes(2, "big") + length + value


def _parse(data: bytes) -> list[tuple[int, bytes]]:
    """Two-byte tags (as these files use) with short or long-form lengths."""
    out, i = [], 0
    while i < len(data):
        if i + 3 > len(data):
            raise IdentityError("a TLV is cut short")
        tag, first = int.from_bytes(data[i : i + 2], "big"), data[i + 2]
        i += 3
        if first < 0x80:
            n = first
        elif first in (0x81, 0x82):
            width = first - 0x80
            n, i = int.from_bytes(data[i : i + width], "big"), i + width
        else:
            raise IdentityError("a TLV length is not in the short or long form")
        if i + n > len(data):
            raise IdentityError("a TLV value runs past the end of the file")
        out.append((tag, data[i : i + n]))
        i += n
    return out


def _inner(data: bytes, outer: int) -> dict[int, bytes]:
    parsed = _parse(data)
    if len(parsed) != 1 or parsed[0][0] != outer:
        raise IdentityError(f"the file is not one {outer:04X} TLV")
    return dict(_parse(parsed[0][1]))


def basic_four_file(identity: CardIdentity) -> bytes:
    birth = identity.birth_date.replace("-", "")
    fields = [(_NAME, identity.name), (_ADDRESS, identity.address), (_BIRTH, birth), (_SEX, identity.sex)]
    return _tlv(_BASIC_FOUR, b"".join(_tlv(tag, text.encode("utf-8")) for tag, text in fields))


def signature_file(basic_four: bytes, issuer_key: rsa.RSAPrivateKey, card_key: rsa.RSAPublicKey) -> bytes:
    """EF 0003: the issuer's signature over the identity and the application's own public key."""
    key_der = card_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    signature = issuer_key.sign(basic_four + key_der, padding.PKCS1v15(), hashes.SHA256())
    return _tlv(
        _SIGNED,
        _tlv(_DIGEST, hashlib.sha256(basic_four).digest())
        + _tlv(_KEY, key_der)
        + _tlv(_SIGNATURE, signature),
    )


def challenge_digest(challenge: bytes) -> bytes:
    """What a card signs (as a SHA-256 digest) to show it is at the desk for this registration."""
    return hashlib.sha256(b"konbini-registration|" + challenge).digest()


def check_presence(signed: bytes, challenge: bytes, proof: bytes) -> None:
    """The application's own key (vouched for in ``signed``, verified first) signed this challenge."""
    try:
        key = serialization.load_der_public_key(_inner(signed, _SIGNED)[_KEY])
    except (KeyError, ValueError):
        raise IdentityError("the signature file names no key of the card's own") from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise IdentityError("the card's own key is not RSA")
    try:
        key.verify(proof, challenge_digest(challenge), padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise IdentityError(
            "the card did not sign this registration's challenge (files read earlier?)"
        ) from None


def verified_identity(basic_four: bytes, signed: bytes, issuer_key: rsa.RSAPublicKey) -> CardIdentity:
    """The identity in ``basic_four`` once ``signed`` proves the issuer wrote it; else :class:`IdentityError`."""
    parts = _inner(signed, _SIGNED)
    if (
        parts.get(_DIGEST) != hashlib.sha256(basic_four).digest()
        or _SIGNATURE not in parts
        or _KEY not in parts
    ):
        raise IdentityError("the signature file does not name these identity data")
    try:
        issuer_key.verify(parts[_SIGNATURE], basic_four + parts[_KEY], padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise IdentityError("the card issuer's signature over the identity does not hold") from None
    fields = _inner(basic_four, _BASIC_FOUR)
    try:
        name, address, birth, sex = (fields[t].decode("utf-8") for t in (_NAME, _ADDRESS, _BIRTH, _SEX))
    except (KeyError, UnicodeDecodeError):
        raise IdentityError("the identity data lack a field or are not UTF-8") from None
    if len(birth) != 8 or not birth.isdigit():
        raise IdentityError("the birth date on the card is not YYYYMMDD")
    return CardIdentity(name, address, f"{birth[:4]}-{birth[4:6]}-{birth[6:]}", sex)


def _plain(text: str) -> str:
    return "".join(text.split())  # spaces (full-width too) do not tell people apart


def mismatches(card: CardIdentity, name: str, address: str, birth_date: str, sex: str) -> list[str]:
    """The fields where the card and the resident's record differ (their names only: no data)."""
    record = {"name": _plain(name), "address": _plain(address), "birth_date": birth_date,
              "sex": SEX_CODES.get(sex, "3")}  # fmt: skip
    held = {"name": _plain(card.name), "address": _plain(card.address), "birth_date": card.birth_date,
            "sex": card.sex}  # fmt: skip
    return [f for f in record if record[f] != held[f]]


def registration_body(
    atena_no: str,
    pin: str,
    challenge: bytes,
    certificate: bytes,
    card_signature: bytes,
    identity: tuple[bytes, bytes, bytes],
) -> dict[str, Any]:
    """``POST /clerk/api/registrations``'s body from what the desk read (``identity``: EF 0002, EF 0003 and
    the identity key's signature over the challenge)."""
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    basic_four, signed, identity_signature = identity
    return {
        "atena_no": atena_no, "pin": pin, "challenge": b64(challenge), "certificate": b64(certificate),
        "card_signature": b64(card_signature),
        "identity": {"basic_four": b64(basic_four), "signature": b64(signed), "challenge_signature": b64(identity_signature)},
    }  # fmt: skip
