"""The persistent state of a virtual JPKI card: one JSON file, mode 0600, written atomically.

The file is the card's "secure element": it holds the private keys, the PIN and the signature password, so
it is never printed or logged; only ``card_id`` and the tries left are safe to show.

Format ``/2`` holds both halves of the JPKI application (authentication and signature); files of format
``/1`` (written before the signature half existed) still load, with ``signature`` None.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key

FORMAT: Final = "konbini-virtual-jpki/2"
FORMAT_AUTH_ONLY: Final = "konbini-virtual-jpki/1"


class CardFileError(Exception):
    """The card file is missing, unreadable or not a virtual card."""


def own_rsa_key(pem: bytes, what: str) -> rsa.RSAPrivateKey:
    """An RSA key from the virtual card's own files (a card file, the demo CA's key), which its tools made and
    keep at 0600: parsed without OpenSSL's RSA consistency check, a guard for keys from elsewhere that costs
    ~38 ms a key here, against 0.01 ms without. A damaged PEM still fails to parse."""
    key = load_pem_private_key(pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CardFileError(f"the {what} is not an RSA key")
    return key


@dataclass
class SignatureHalf:
    """The signature half of the card: key EF 001A, certificate EFs 0001/0002, password EF 001B."""

    private_key_pem: bytes
    certificate_der: bytes
    ca_certificate_der: bytes
    password: str
    tries_left: int

    def __repr__(self) -> str:  # never show the key or the password
        return f"SignatureHalf(tries_left={self.tries_left})"

    def to_json(self) -> dict[str, Any]:
        return {
            "tries_left": self.tries_left,
            "password": self.password,
            "private_key_pem": self.private_key_pem.decode("ascii"),
            "certificate_der_b64": base64.b64encode(self.certificate_der).decode("ascii"),
            "ca_certificate_der_b64": base64.b64encode(self.ca_certificate_der).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignatureHalf:
        return cls(
            private_key_pem=str(data["private_key_pem"]).encode("ascii"),
            certificate_der=base64.b64decode(data["certificate_der_b64"], validate=True),
            ca_certificate_der=base64.b64decode(data["ca_certificate_der_b64"], validate=True),
            password=str(data["password"]),
            tries_left=int(data["tries_left"]),
        )


@dataclass
class IdentityHalf:
    """The 券面事項入力補助 application: the identity files as issued (EF 0002 and its signed EF 0003) and
    their PIN (EF 0011)."""

    basic_four: bytes
    signature: bytes
    pin: str
    tries_left: int
    private_key_pem: bytes  # EF 0007: signs the server's registration challenge

    def __repr__(self) -> str:  # never show the identity, the key or the PIN
        return f"IdentityHalf(tries_left={self.tries_left})"

    def to_json(self) -> dict[str, Any]:
        return {
            "private_key_pem": self.private_key_pem.decode("ascii"),
            "pin": self.pin,
            "tries_left": self.tries_left,
            "basic_four_b64": base64.b64encode(self.basic_four).decode("ascii"),
            "signature_b64": base64.b64encode(self.signature).decode("ascii"),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> IdentityHalf:
        return cls(
            basic_four=base64.b64decode(data["basic_four_b64"], validate=True),
            signature=base64.b64decode(data["signature_b64"], validate=True),
            pin=str(data["pin"]),
            tries_left=int(data["tries_left"]),
            private_key_pem=str(data["private_key_pem"]).encode("ascii"),
        )


@dataclass
class CardState:
    """Everything a virtual card remembers between power cycles (the authentication half at top level)."""

    card_id: str
    private_key_pem: bytes
    certificate_der: bytes
    ca_certificate_der: bytes
    pin: str
    tries_left: int
    signature: SignatureHalf | None = None
    identity: IdentityHalf | None = None  # the 券面事項入力補助 application (cards made before it: None)
    form: str = "card"  # or a phone's: "android" (PIN like a card), "iphone" (signs without a PIN)

    def __repr__(self) -> str:  # never show the key or the PIN
        return f"CardState(card_id={self.card_id!r}, form={self.form!r}, tries_left={self.tries_left})"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": FORMAT if self.signature is not None else FORMAT_AUTH_ONLY,
            "card_id": self.card_id,
            "tries_left": self.tries_left,
            "pin": self.pin,
            "private_key_pem": self.private_key_pem.decode("ascii"),
            "certificate_der_b64": base64.b64encode(self.certificate_der).decode("ascii"),
            "ca_certificate_der_b64": base64.b64encode(self.ca_certificate_der).decode("ascii"),
        }
        if self.signature is not None:
            data["signature"] = self.signature.to_json()
        if self.identity is not None:
            data["identity"] = self.identity.to_json()
        if self.form != "card":
            data["form"] = self.form
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CardState:
        if data.get("format") not in (FORMAT, FORMAT_AUTH_ONLY):
            raise CardFileError(f"not a virtual card file (format is not {FORMAT!r})")
        try:
            return cls(
                card_id=str(data["card_id"]),
                private_key_pem=str(data["private_key_pem"]).encode("ascii"),
                certificate_der=base64.b64decode(data["certificate_der_b64"], validate=True),
                ca_certificate_der=base64.b64decode(data["ca_certificate_der_b64"], validate=True),
                pin=str(data["pin"]),
                tries_left=int(data["tries_left"]),
                signature=SignatureHalf.from_json(data["signature"]) if data["format"] == FORMAT else None,
                identity=IdentityHalf.from_json(data["identity"]) if "identity" in data else None,
                form=_form(data.get("form", "card")),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise CardFileError(f"card file is damaged: {type(exc).__name__} in field {exc}") from None


def _form(value: object) -> str:
    if value not in ("card", "android", "iphone"):
        raise ValueError("form")
    return str(value)


def load_state(path: Path) -> CardState:
    """Read a card file; raises :class:`CardFileError` with a readable reason."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CardFileError(
            f"card file {path} does not exist (create it with `konbini-card personalise`)"
        ) from None
    except OSError as exc:
        raise CardFileError(f"cannot read card file {path}: {exc.strerror}") from None
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        raise CardFileError(f"card file {path} is not valid JSON") from None
    if not isinstance(data, dict):
        raise CardFileError(f"card file {path} is not a JSON object")
    return CardState.from_json(data)


def save_state(path: Path, state: CardState) -> None:
    """Write the card file atomically (temp file, fsync, rename), mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = json.dumps(state.to_json(), indent=1).encode("utf-8")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
