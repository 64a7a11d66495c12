"""The applications of the virtual card as a real My Number card exposes them.

JPKI, authentication: certificate EF 000A and its CA 000B (readable without a PIN), key 0017, PIN 0018 (4
digits, 3 tries). JPKI, signature: certificate 0001 (readable only after the signature password) and its CA
0002, key 001A, password 001B (6-16 upper-case letters and digits, 5 tries). 券面事項入力補助: the identity
EF 0002 and its issuer's signature EF 0003, readable after the PIN EF 0011 (4 digits, 3 tries); see
:mod:`wire.card_identity`. Each application has its own files; selecting one forgets the verifications.

A phone (スマホ用電子証明書) has the JPKI application without the identity application: the Android form
shows its authentication certificate only after the PIN (as its secure element does), the iPhone form has
no PIN EF and signs without one (the phone verified its owner with Face ID before it answers).
:class:`VirtualCard` is pure APDU logic
(``process(apdu) -> response``), testable without sockets; the vpcd runner that plugs it into pcscd is
:mod:`devices.card.virtual.vpcd`.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

from devices.card import profile as p
from devices.card.apdu import StatusWord, pin_tries_sw
from devices.card.virtual.state import (
    FORMAT_AUTH_ONLY,
    CardFileError,
    CardState,
    IdentityHalf,
    SignatureHalf,
    load_state,
    own_rsa_key,
    save_state,
)
from wire import card_identity

log = logging.getLogger(__name__)

# DigestInfo prefixes the card accepts for COMPUTE SIGNATURE (RFC 8017, section 9.2, note 1).
_DIGEST_INFO_PREFIXES: Final[dict[bytes, hashes.HashAlgorithm]] = {
    bytes.fromhex("3021300906052b0e03021a05000414"): hashes.SHA1(),  # noqa: S303  the card's protocol names SHA-1 DigestInfo; not used for security here
    bytes.fromhex("302d300d06096086480165030402040500041c"): hashes.SHA224(),
    p.SHA256_DIGESTINFO_PREFIX: hashes.SHA256(),
    bytes.fromhex("3041300d060960864801650304020205000430"): hashes.SHA384(),
    bytes.fromhex("3051300d060960864801650304020305000440"): hashes.SHA512(),
}


@dataclass(frozen=True)
class Apdu:
    """A parsed short command APDU; ``le`` is None when absent, 256 when sent as 00."""

    cla: int
    ins: int
    p1: int
    p2: int
    data: bytes
    le: int | None


def parse_apdu(raw: bytes) -> Apdu | None:
    """Parse a short APDU (ISO 7816-4 cases 1-4); None if the length is inconsistent or extended."""
    if len(raw) < 4:
        return None
    cla, ins, p1, p2 = raw[:4]
    if len(raw) == 4:
        return Apdu(cla, ins, p1, p2, b"", None)
    if len(raw) == 5:
        return Apdu(cla, ins, p1, p2, b"", raw[4] or 256)
    lc = raw[4]
    if lc == 0:  # extended length: not supported by this card
        return None
    if len(raw) == 5 + lc:
        return Apdu(cla, ins, p1, p2, raw[5:], None)
    if len(raw) == 6 + lc:
        return Apdu(cla, ins, p1, p2, raw[5:-1], raw[-1] or 256)
    return None


def _sw(sw: int, data: bytes = b"") -> bytes:
    return data + sw.to_bytes(2, "big")


@dataclass(frozen=True)
class _PinEf:
    """A PIN EF: its secret, retry limit, the lengths VERIFY accepts and where its counter lives."""

    secret: bytes
    max_tries: int
    lengths: range
    get_tries: Callable[[], int]
    put_tries: Callable[[int], None]


@dataclass
class _App:
    """One application's files: readable EFs, PIN EFs, key EFs (with the PIN EF each needs) and the EFs
    readable only after a PIN."""

    files: dict[int, bytes]
    pins: dict[int, _PinEf]
    keys: dict[int, tuple[rsa.RSAPrivateKey, int | None]]  # None: signs without a PIN (an iPhone)
    protected: dict[int, int]


def _certificate_ef(der: bytes, what: str) -> bytes:
    """A certificate EF's content: the DER certificate, whose first 4 bytes (30 82 hi lo) give its length,
    as OpenSC's driver expects when it sizes the file."""
    if len(der) < 4 or der[:2] != b"\x30\x82" or int.from_bytes(der[2:4], "big") + 4 != len(der):
        raise CardFileError(f"the {what} in the card file is not a DER certificate of 256-65539 bytes")
    return der


class VirtualCard:
    """The card's APDU logic. With ``card_file`` set, the retry counters are persisted there."""

    def __init__(self, state: CardState, card_file: Path | None = None) -> None:
        if len(state.pin) != p.PIN_LENGTH or not state.pin.isdigit() or not state.pin.isascii():
            raise CardFileError("the card PIN is not 4 digits")
        self._state = state
        self._card_file = card_file
        auth_pin: int | None = None if state.form == "iphone" else p.EF_AUTH_PIN
        self._jpki = _App(
            files={
                p.EF_AUTH_CERT: _certificate_ef(state.certificate_der, "authentication certificate"),
                p.EF_AUTH_CA_CERT: _certificate_ef(state.ca_certificate_der, "authentication CA certificate"),
            },
            pins={
                p.EF_AUTH_PIN: _PinEf(
                    state.pin.encode("ascii"),
                    p.PIN_MAX_TRIES,
                    range(p.PIN_LENGTH, p.PIN_LENGTH + 1),
                    lambda: self._state.tries_left,
                    self._put_auth_tries,
                )
            },
            keys={p.EF_AUTH_KEY: (own_rsa_key(state.private_key_pem, "authentication key"), auth_pin)},
            protected={p.EF_AUTH_CERT: p.EF_AUTH_PIN} if state.form == "android" else {},
        )
        if auth_pin is None:
            del self._jpki.pins[p.EF_AUTH_PIN]
        self._apps: dict[bytes, _App] = {p.AID_JPKI: self._jpki}
        if state.signature is not None:
            self._add_signature_half(state.signature)
        else:
            log.warning(
                "card %s: the card file has only the authentication half (format %s); OpenSC and other "
                "JPKI clients refuse such a card: re-personalise it with `konbini-card personalise`",
                state.card_id,
                FORMAT_AUTH_ONLY,
            )
        if state.identity is not None:
            self._apps[card_identity.AID_KENHOJO] = self._identity_app(state.identity)
        self._app: _App | None = None
        self._current_ef: int | None = None
        self._verified: set[int] = set()

    def _identity_app(self, half: IdentityHalf) -> _App:
        if len(half.pin) != p.PIN_LENGTH or not half.pin.isdigit() or not half.pin.isascii():
            raise CardFileError("the card's identity PIN is not 4 digits")
        return _App(
            files={card_identity.EF_BASIC_FOUR: half.basic_four, card_identity.EF_SIGNATURE: half.signature},
            pins={
                card_identity.EF_IDENTITY_PIN: _PinEf(
                    half.pin.encode("ascii"),
                    card_identity.IDENTITY_PIN_MAX_TRIES,
                    range(p.PIN_LENGTH, p.PIN_LENGTH + 1),
                    lambda: half.tries_left,
                    self._put_identity_tries,
                )
            },
            keys={
                card_identity.EF_IDENTITY_KEY: (
                    own_rsa_key(half.private_key_pem, "identity key"),
                    card_identity.EF_IDENTITY_PIN,
                )
            },
            protected={
                card_identity.EF_BASIC_FOUR: card_identity.EF_IDENTITY_PIN,
                card_identity.EF_SIGNATURE: card_identity.EF_IDENTITY_PIN,
            },
        )

    def _add_signature_half(self, half: SignatureHalf) -> None:
        if not p.SIGN_PASSWORD_MIN <= len(half.password) <= p.SIGN_PASSWORD_MAX:
            raise CardFileError("the card's signature password is not 6-16 characters")
        self._jpki.files[p.EF_SIGN_CERT] = _certificate_ef(half.certificate_der, "signature certificate")
        self._jpki.files[p.EF_SIGN_CA_CERT] = _certificate_ef(
            half.ca_certificate_der, "signature CA certificate"
        )
        self._jpki.protected[p.EF_SIGN_CERT] = p.EF_SIGN_PIN
        self._jpki.pins[p.EF_SIGN_PIN] = _PinEf(
            half.password.encode("ascii"),
            p.SIGN_PASSWORD_MAX_TRIES,
            range(p.SIGN_PASSWORD_MIN, p.SIGN_PASSWORD_MAX + 1),
            lambda: half.tries_left,
            self._put_sign_tries,
        )
        self._jpki.keys[p.EF_SIGN_KEY] = (own_rsa_key(half.private_key_pem, "signature key"), p.EF_SIGN_PIN)

    @classmethod
    def from_file(cls, card_file: Path) -> VirtualCard:
        return cls(load_state(card_file), card_file)

    @property
    def card_id(self) -> str:
        return self._state.card_id

    @property
    def tries_left(self) -> int:
        """Tries left of the authentication PIN."""
        return self._state.tries_left

    @property
    def form(self) -> str:
        """``card``, or a phone's form: ``android`` or ``iphone``."""
        return self._state.form

    @property
    def has_signature_half(self) -> bool:
        return self._state.signature is not None

    @property
    def atr(self) -> bytes:
        return p.ATR_JPKI

    def __repr__(self) -> str:
        return f"VirtualCard(card_id={self.card_id!r}, form={self.form!r})"

    # -- power ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Power off, power on or reset: the card forgets its selection and PIN verifications."""
        self._app = None
        self._current_ef = None
        self._verified.clear()

    power_on = reset
    power_off = reset

    # -- APDUs ---------------------------------------------------------------------------------------

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data + SW1 SW2)."""
        apdu = parse_apdu(raw)
        if apdu is None:
            return _sw(StatusWord.WRONG_LENGTH)
        handlers = {
            (p.CLA_ISO, p.INS_SELECT): self._select,
            (p.CLA_ISO, p.INS_READ_BINARY): self._read_binary,
            (p.CLA_ISO, p.INS_VERIFY): self._verify,
            (p.CLA_PROPRIETARY, p.INS_COMPUTE_SIGNATURE): self._compute_signature,
        }
        handler = handlers.get((apdu.cla, apdu.ins))
        if handler is not None:
            return handler(apdu)
        if apdu.cla not in (p.CLA_ISO, p.CLA_PROPRIETARY) or any(ins == apdu.ins for _, ins in handlers):
            return _sw(StatusWord.CLA_NOT_SUPPORTED)
        return _sw(StatusWord.INS_NOT_SUPPORTED)

    def _select(self, apdu: Apdu) -> bytes:
        if apdu.p2 != p.P2_SELECT_NO_FCI or apdu.p1 not in (p.P1_SELECT_DF_NAME, p.P1_SELECT_EF):
            return _sw(StatusWord.WRONG_P1P2)
        if not apdu.data or apdu.le is not None:
            return _sw(StatusWord.WRONG_LENGTH)
        if apdu.p1 == p.P1_SELECT_DF_NAME:
            app = self._apps.get(bytes(apdu.data))
            if app is None:
                return _sw(StatusWord.FILE_NOT_FOUND)
            self.reset()
            self._app = app
            return _sw(StatusWord.OK)
        if len(apdu.data) != 2:
            return _sw(StatusWord.WRONG_LENGTH)
        fid = int.from_bytes(apdu.data, "big")
        app = self._app
        if app is None or not (fid in app.files or fid in app.keys or fid in app.pins):
            return _sw(StatusWord.FILE_NOT_FOUND)
        self._current_ef = fid
        return _sw(StatusWord.OK)

    def _read_binary(self, apdu: Apdu) -> bytes:
        if apdu.p1 & 0x80:  # short EF identifier addressing: not supported
            return _sw(StatusWord.WRONG_P1P2)
        if apdu.le is None or apdu.data:
            return _sw(StatusWord.WRONG_LENGTH)
        if self._current_ef is None or self._app is None:
            return _sw(StatusWord.NO_CURRENT_EF)
        content = self._app.files.get(self._current_ef)
        if content is None:  # key or PIN EF: never readable
            return _sw(StatusWord.INCOMPATIBLE_FILE)
        needed = self._app.protected.get(self._current_ef)
        if needed is not None and needed not in self._verified:
            return _sw(StatusWord.SECURITY_NOT_SATISFIED)
        offset = (apdu.p1 << 8) | apdu.p2
        if offset >= len(content):
            return _sw(StatusWord.WRONG_OFFSET)
        chunk = content[offset : offset + apdu.le]
        return _sw(StatusWord.OK if len(chunk) == apdu.le else StatusWord.END_OF_FILE, chunk)

    def _verify(self, apdu: Apdu) -> bytes:
        if apdu.p1 != 0x00 or apdu.p2 != p.P2_VERIFY_PIN:
            return _sw(StatusWord.WRONG_P1P2)
        ef = self._current_ef
        if ef is None or self._app is None or ef not in self._app.pins:
            return _sw(StatusWord.NO_CURRENT_EF)
        pin = self._app.pins[ef]
        if apdu.le is not None:
            return _sw(StatusWord.WRONG_LENGTH)
        tries = pin.get_tries()
        if not apdu.data:  # status query: tries left (63C0 once blocked), no attempt used
            return _sw(pin_tries_sw(tries))
        if len(apdu.data) not in pin.lengths:
            return _sw(StatusWord.WRONG_LENGTH)
        if tries <= 0:
            return _sw(StatusWord.PIN_BLOCKED)
        # Count the attempt before comparing, as a card does against tearing (pulling the card mid-check).
        self._verified.discard(ef)
        pin.put_tries(tries - 1)
        if hmac.compare_digest(apdu.data, pin.secret):
            pin.put_tries(pin.max_tries)
            self._verified.add(ef)
            return _sw(StatusWord.OK)
        log.info("card %s: wrong secret for EF %04X, %d tries left", self.card_id, ef, tries - 1)
        return _sw(pin_tries_sw(tries - 1))

    def _compute_signature(self, apdu: Apdu) -> bytes:
        if apdu.p1 != p.P1_SIGN or apdu.p2 != p.P2_SIGN:
            return _sw(StatusWord.WRONG_P1P2)
        if not apdu.data or apdu.le is None:
            return _sw(StatusWord.WRONG_LENGTH)
        if self._app is None or self._current_ef not in self._app.keys:
            return _sw(StatusWord.NO_CURRENT_EF)
        key, needed = self._app.keys[self._current_ef]
        if needed is not None and needed not in self._verified:
            return _sw(StatusWord.SECURITY_NOT_SATISFIED)
        for prefix, algorithm in _DIGEST_INFO_PREFIXES.items():
            if apdu.data.startswith(prefix) and len(apdu.data) == len(prefix) + algorithm.digest_size:
                digest = apdu.data[len(prefix) :]
                break
        else:
            return _sw(StatusWord.WRONG_DATA)
        signature = key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algorithm))
        if apdu.le < len(signature):
            return _sw(StatusWord.WRONG_LENGTH)
        return _sw(StatusWord.OK, signature)

    # -- retry counters ------------------------------------------------------------------------------

    def _put_auth_tries(self, tries: int) -> None:
        if tries != self._state.tries_left:
            self._state.tries_left = tries
            self._save()

    def _put_sign_tries(self, tries: int) -> None:
        half = self._state.signature
        if half is not None and tries != half.tries_left:
            half.tries_left = tries
            self._save()

    def _put_identity_tries(self, tries: int) -> None:
        half = self._state.identity
        if half is not None and tries != half.tries_left:
            half.tries_left = tries
            self._save()

    def _save(self) -> None:
        if self._card_file is not None:
            save_state(self._card_file, self._state)
