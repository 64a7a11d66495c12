"""The JPKI application of the virtual card: the profile of :mod:`kiosk.card_profile` in software.

:class:`VirtualCard` is pure APDU logic (``process(apdu) -> response``), testable without sockets; the
vpcd runner that plugs it into pcscd is :mod:`kiosk.virtual_card`.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from kiosk import card_profile as p
from kiosk.card_state import CardFileError, CardState, load_state, save_state

log = logging.getLogger(__name__)

# DigestInfo prefixes the card accepts for COMPUTE SIGNATURE (RFC 8017, section 9.2, note 1).
_DIGEST_INFO_PREFIXES: Final[dict[bytes, hashes.HashAlgorithm]] = {
    bytes.fromhex("3021300906052b0e03021a05000414"): hashes.SHA1(),
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


class VirtualCard:
    """The card's APDU logic. With ``card_file`` set, the PIN retry counter is persisted there."""

    def __init__(self, state: CardState, card_file: Path | None = None) -> None:
        key = load_pem_private_key(state.private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise CardFileError("the card key is not an RSA key")
        if len(state.pin) != p.PIN_LENGTH or not state.pin.isdigit() or not state.pin.isascii():
            raise CardFileError("the card PIN is not 4 digits")
        self._state = state
        self._key = key
        self._card_file = card_file
        self._files: dict[int, bytes] = {
            p.EF_AUTH_CERT: state.certificate_der,
            p.EF_AUTH_CA_CERT: state.ca_certificate_der,
        }
        self._app_selected = False
        self._current_ef: int | None = None
        self._pin_verified = False

    @classmethod
    def from_file(cls, card_file: Path) -> VirtualCard:
        return cls(load_state(card_file), card_file)

    @property
    def card_id(self) -> str:
        return self._state.card_id

    @property
    def tries_left(self) -> int:
        return self._state.tries_left

    @property
    def atr(self) -> bytes:
        return p.ATR_JPKI

    def __repr__(self) -> str:
        return f"VirtualCard(card_id={self.card_id!r})"

    # -- power ---------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Power off, power on or reset: the card forgets its selection and PIN verification."""
        self._app_selected = False
        self._current_ef = None
        self._pin_verified = False

    power_on = reset
    power_off = reset

    # -- APDUs ---------------------------------------------------------------------------------------

    def process(self, raw: bytes) -> bytes:
        """Answer one command APDU with a response APDU (data + SW1 SW2)."""
        apdu = parse_apdu(raw)
        if apdu is None:
            return _sw(p.SW_WRONG_LENGTH)
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
            return _sw(p.SW_CLA_NOT_SUPPORTED)
        return _sw(p.SW_INS_NOT_SUPPORTED)

    def _select(self, apdu: Apdu) -> bytes:
        if apdu.p2 != p.P2_SELECT_NO_FCI or apdu.p1 not in (p.P1_SELECT_DF_NAME, p.P1_SELECT_EF):
            return _sw(p.SW_WRONG_P1P2)
        if not apdu.data:
            return _sw(p.SW_WRONG_LENGTH)
        if apdu.p1 == p.P1_SELECT_DF_NAME:
            if apdu.data != p.AID_JPKI:
                return _sw(p.SW_FILE_NOT_FOUND)
            self.reset()
            self._app_selected = True
            return _sw(p.SW_OK)
        if len(apdu.data) != 2:
            return _sw(p.SW_WRONG_LENGTH)
        fid = int.from_bytes(apdu.data, "big")
        known = (p.EF_AUTH_CERT, p.EF_AUTH_CA_CERT, p.EF_AUTH_KEY, p.EF_AUTH_PIN)
        if not self._app_selected or fid not in known:
            return _sw(p.SW_FILE_NOT_FOUND)
        self._current_ef = fid
        return _sw(p.SW_OK)

    def _read_binary(self, apdu: Apdu) -> bytes:
        if apdu.p1 & 0x80:  # short EF identifier addressing: not supported
            return _sw(p.SW_WRONG_P1P2)
        if apdu.le is None or apdu.data:
            return _sw(p.SW_WRONG_LENGTH)
        if self._current_ef is None:
            return _sw(p.SW_NO_CURRENT_EF)
        content = self._files.get(self._current_ef)
        if content is None:  # key or PIN EF: never readable
            return _sw(p.SW_INCOMPATIBLE_FILE)
        offset = (apdu.p1 << 8) | apdu.p2
        if offset >= len(content):
            return _sw(p.SW_WRONG_OFFSET)
        chunk = content[offset : offset + apdu.le]
        return _sw(p.SW_OK if len(chunk) == apdu.le else p.SW_END_OF_FILE, chunk)

    def _verify(self, apdu: Apdu) -> bytes:
        if apdu.p1 != 0x00 or apdu.p2 != p.P2_VERIFY_PIN:
            return _sw(p.SW_WRONG_P1P2)
        if self._current_ef != p.EF_AUTH_PIN:
            return _sw(p.SW_NO_CURRENT_EF)
        if apdu.le is not None:
            return _sw(p.SW_WRONG_LENGTH)
        if not apdu.data:  # status query: tries left, no attempt used
            return _sw(p.pin_tries_sw(self._state.tries_left))
        if len(apdu.data) != p.PIN_LENGTH:
            return _sw(p.SW_WRONG_LENGTH)
        if self._state.tries_left <= 0:
            return _sw(p.SW_PIN_BLOCKED)
        # Count the attempt before comparing, as a card does against tearing (pulling the card mid-check).
        self._pin_verified = False
        self._set_tries(self._state.tries_left - 1)
        if hmac.compare_digest(apdu.data, self._state.pin.encode("ascii")):
            self._set_tries(p.PIN_MAX_TRIES)
            self._pin_verified = True
            return _sw(p.SW_OK)
        log.info("card %s: wrong PIN, %d tries left", self.card_id, self._state.tries_left)
        return _sw(p.pin_tries_sw(self._state.tries_left))

    def _compute_signature(self, apdu: Apdu) -> bytes:
        if apdu.p1 != p.P1_SIGN or apdu.p2 != p.P2_SIGN:
            return _sw(p.SW_WRONG_P1P2)
        if not apdu.data or apdu.le is None:
            return _sw(p.SW_WRONG_LENGTH)
        if self._current_ef != p.EF_AUTH_KEY:
            return _sw(p.SW_NO_CURRENT_EF)
        if not self._pin_verified:
            return _sw(p.SW_SECURITY_NOT_SATISFIED)
        for prefix, algorithm in _DIGEST_INFO_PREFIXES.items():
            if apdu.data.startswith(prefix) and len(apdu.data) == len(prefix) + algorithm.digest_size:
                digest = apdu.data[len(prefix) :]
                break
        else:
            return _sw(p.SW_WRONG_DATA)
        signature = self._key.sign(digest, padding.PKCS1v15(), utils.Prehashed(algorithm))
        if apdu.le < len(signature):
            return _sw(p.SW_WRONG_LENGTH)
        return _sw(p.SW_OK, signature)

    def _set_tries(self, tries: int) -> None:
        if tries == self._state.tries_left:
            return
        self._state.tries_left = tries
        if self._card_file is not None:
            save_state(self._card_file, self._state)
