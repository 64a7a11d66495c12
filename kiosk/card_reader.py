"""The kiosk's card layer: the JPKI profile over PC/SC (pyscard's low-level ``scard`` API).

``JpkiCard.connect()`` picks a reader with a card, connects exclusively and selects the JPKI application;
``close()`` resets the card so that no PIN verification survives the session. Every PC/SC failure is
mapped to a :class:`~kiosk.card_errors.CardError` subclass with a stable code.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Final

from cryptography import x509
from cryptography.x509.oid import NameOID
from smartcard import scard

from kiosk import card_profile as p
from kiosk.card_errors import (
    CardBusy,
    CardError,
    CardIoError,
    CardProtocolError,
    CardRemoved,
    CardReset,
    NoCard,
    NoReader,
    NotAJpkiCard,
    PcscUnavailable,
    PinBlocked,
    PinFormatError,
    WrongPin,
)
from wire import card_identity

__all__ = [
    "CardBusy",
    "CardError",
    "CardIoError",
    "CardProtocolError",
    "CardRemoved",
    "CardReset",
    "JpkiCard",
    "NoCard",
    "NoReader",
    "NotAJpkiCard",
    "PcscUnavailable",
    "PinBlocked",
    "PinFormatError",
    "WrongPin",
    "card_id_from_certificate",
    "list_readers",
    "reader_has_card",
]

log = logging.getLogger(__name__)

_SERVICE_DOWN: Final = {scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF, scard.SCARD_E_SERVICE_STOPPED & 0xFFFFFFFF}
_CARD_GONE: Final = {scard.SCARD_W_REMOVED_CARD & 0xFFFFFFFF, scard.SCARD_E_NO_SMARTCARD & 0xFFFFFFFF}
_READER_GONE: Final = {
    scard.SCARD_E_READER_UNAVAILABLE & 0xFFFFFFFF,
    scard.SCARD_E_UNKNOWN_READER & 0xFFFFFFFF,
}
_SCARD_STATUS_PRESENT: Final = 0x0004  # pcsc-lite SCardStatus() state bit (not the SCARD_STATE_* ones)
_REMOVAL_GRACE_S: Final = 1.5  # pcscd polls vpcd/readers every ~0.4 s; wait that long to confirm removal
_SIGNATURE_OP: Final = "COMPUTE SIGNATURE"


def _hr(value: int) -> int:
    return value & 0xFFFFFFFF


def _pcsc_message(hr: int) -> str:
    return f"{scard.SCardGetErrorMessage(hr)} (0x{_hr(hr):08X})"


def _establish_context() -> Any:
    hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if _hr(hr) in _SERVICE_DOWN:
        raise PcscUnavailable()
    if hr != scard.SCARD_S_SUCCESS:
        raise PcscUnavailable(f"cannot reach the smart-card service pcscd: {_pcsc_message(hr)}")
    return ctx


def _list_readers(ctx: Any) -> list[str]:
    hr, readers = scard.SCardListReaders(ctx, [])
    if _hr(hr) == _hr(scard.SCARD_E_NO_READERS_AVAILABLE):
        return []
    if _hr(hr) in _SERVICE_DOWN:
        raise PcscUnavailable()
    if hr != scard.SCARD_S_SUCCESS:
        raise CardIoError(f"cannot list smart-card readers: {_pcsc_message(hr)}")
    return list(readers)


def list_readers() -> list[str]:
    """The names of the PC/SC readers pcscd knows (may be empty)."""
    ctx = _establish_context()
    try:
        return _list_readers(ctx)
    finally:
        scard.SCardReleaseContext(ctx)


def reader_has_card(reader: str) -> bool:
    """True if pcscd reports a card in ``reader`` (for "insert your card" screens and watchdogs)."""
    ctx = _establish_context()
    try:
        if reader not in _list_readers(ctx):
            raise NoReader(f"reader {reader!r} not found")
        state = JpkiCard._states(ctx, [reader])[reader]
        return bool(state & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


def card_id_from_certificate(cert_der: bytes) -> str:
    """The card id: the CN of the authentication certificate's subject."""
    cert = x509.load_der_x509_certificate(cert_der)
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not names:
        raise NotAJpkiCard("the card's certificate has no common name (card id)")
    return str(names[0].value)


def _der_total_length(head: bytes) -> int:
    """Total size of a DER SEQUENCE from its first bytes (tag 30, short or 1-2 byte long length)."""
    if len(head) < 2 or head[0] != 0x30:
        raise NotAJpkiCard("the certificate file on the card does not hold a DER certificate")
    first = head[1]
    if first < 0x80:
        return 2 + first
    n = first & 0x7F
    if n not in (1, 2) or len(head) < 2 + n:
        raise NotAJpkiCard("the certificate file on the card has an unsupported length header")
    return 2 + n + int.from_bytes(head[2 : 2 + n], "big")


class JpkiCard:
    """A connected JPKI card. Not shared between threads without care: calls are serialised by a lock."""

    def __init__(self, ctx: Any, hcard: Any, protocol: int, reader: str) -> None:
        self._ctx = ctx
        self._hcard: Any = hcard
        self._protocol = protocol
        self.reader = reader
        self._lock = threading.Lock()
        self._dead: CardError | None = None  # why the connection ended (card removed, reset, ...)

    # -- connecting ----------------------------------------------------------------------------------

    @classmethod
    def connect(cls, reader: str | None = None, timeout_s: float = 0.0) -> JpkiCard:
        """Connect to the card in ``reader`` (default: the first with a card), waiting up to ``timeout_s`` for
        a card, and for a card that another program holds (or that is still being reset) to be free."""
        ctx = _establish_context()
        try:
            card = cls._connect_in(ctx, reader, time.monotonic() + max(timeout_s, 0.0))
        except BaseException:
            scard.SCardReleaseContext(ctx)
            raise
        return card

    @classmethod
    def _connect_in(cls, ctx: Any, reader: str | None, deadline: float) -> JpkiCard:
        while True:
            readers = _list_readers(ctx)
            candidates = [reader] if reader is not None and reader in readers else []
            if reader is None:
                candidates = readers
            states = cls._states(ctx, candidates)
            busy: CardBusy | None = None
            for name, state in states.items():
                if state & scard.SCARD_STATE_PRESENT and not state & scard.SCARD_STATE_MUTE:
                    try:
                        card = cls._try_connect(ctx, name)
                    except CardBusy as exc:
                        busy = exc  # held by another program, or still being reset: maybe free in a moment
                        continue
                    if card is not None:
                        return card
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise busy or cls._nothing_found(readers, reader, states)
            if busy is not None:
                time.sleep(min(remaining, 0.1))  # no state change announces the end of another's session
            else:
                cls._wait_change(ctx, states, remaining)

    @staticmethod
    def _states(ctx: Any, readers: list[str]) -> dict[str, int]:
        if not readers:
            return {}
        hr, result = scard.SCardGetStatusChange(ctx, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
        if _hr(hr) in _SERVICE_DOWN:
            raise PcscUnavailable()
        if hr != scard.SCARD_S_SUCCESS:
            raise CardIoError(f"cannot read the state of the readers: {_pcsc_message(hr)}")
        return {name: int(state) for name, state, _atr in result}

    @staticmethod
    def _wait_change(ctx: Any, states: dict[str, int], remaining_s: float) -> None:
        """Block until a reader's state changes or ``remaining_s`` passes (at most 0.5 s, for new readers)."""
        timeout_ms = max(1, int(min(remaining_s, 0.5) * 1000))
        if not states:
            time.sleep(timeout_ms / 1000)
            return
        current = [(name, state & ~scard.SCARD_STATE_CHANGED) for name, state in states.items()]
        hr, _ = scard.SCardGetStatusChange(ctx, timeout_ms, current)
        if _hr(hr) in _SERVICE_DOWN:
            raise PcscUnavailable()

    @staticmethod
    def _nothing_found(readers: list[str], wanted: str | None, states: dict[str, int]) -> CardError:
        if not readers:
            return NoReader(
                "no smart-card reader is connected; plug in the reader (for the demo: is vpcd set up?)"
            )
        if wanted is not None and wanted not in readers:
            return NoReader(f"reader {wanted!r} not found; readers: {', '.join(readers)}")
        if any(state & scard.SCARD_STATE_MUTE for state in states.values()):
            return CardIoError("the card does not respond; take it out and insert it again, chip first")
        where = repr(wanted) if wanted is not None else "the reader (" + ", ".join(map(repr, readers)) + ")"
        return NoCard(f"no card found; insert the card into {where}")

    @classmethod
    def _try_connect(cls, ctx: Any, reader: str) -> JpkiCard | None:
        hr, hcard, protocol = scard.SCardConnect(
            ctx, reader, scard.SCARD_SHARE_EXCLUSIVE, scard.SCARD_PROTOCOL_T0 | scard.SCARD_PROTOCOL_T1
        )
        if _hr(hr) in _CARD_GONE:
            return None  # pulled out between the state check and the connect
        if _hr(hr) == _hr(scard.SCARD_E_SHARING_VIOLATION):
            raise CardBusy(reader)
        if _hr(hr) in _SERVICE_DOWN:
            raise PcscUnavailable()
        if hr != scard.SCARD_S_SUCCESS:
            raise CardIoError(f"cannot connect to the card in reader {reader!r}: {_pcsc_message(hr)}")
        card = cls(ctx, hcard, protocol, reader)
        try:
            _, sw = card._transmit(p.select_aid(), "SELECT JPKI application")
        except BaseException:
            card._disconnect(scard.SCARD_LEAVE_CARD, release_context=False)
            raise
        if sw != p.SW_OK:
            card._disconnect(scard.SCARD_LEAVE_CARD, release_context=False)
            raise NotAJpkiCard(
                f"the card in reader {reader!r} is not a My Number card (no JPKI application, "
                f"SW {sw:04X}); insert the My Number card"
            )
        log.debug("connected to JPKI card in %s (protocol %d)", reader, protocol)
        return card

    # -- APDU transport ------------------------------------------------------------------------------

    def _transmit(self, apdu: bytes, operation: str) -> tuple[bytes, int]:
        """Send one APDU; return (data, SW). Never logs the APDU (it may hold the PIN)."""
        with self._lock:
            if self._hcard is None:
                raise self._dead or CardIoError("the card connection is closed; connect again")
            hr, resp = scard.SCardTransmit(self._hcard, self._protocol, list(apdu))
            if hr != scard.SCARD_S_SUCCESS:
                raise self._transmit_error(hr, operation)
        if len(resp) < 2:
            raise CardIoError(f"the card sent a truncated answer to {operation}")
        asked = p.expected_length(apdu)
        if len(resp) - 2 > asked:
            raise CardIoError(
                f"the card sent {len(resp) - 2} bytes in answer to {operation}, which asked for at most "
                f"{asked}; a faulty card or reader: take the card out and try again"
            )
        sw = (resp[-2] << 8) | resp[-1]
        log.debug("%s -> %04X", operation, sw)
        return bytes(resp[:-2]), sw

    def _transmit_error(self, hr: int, operation: str) -> CardError:
        code = _hr(hr)
        if code in _CARD_GONE or code in _READER_GONE:
            return self._hcard_dead(CardRemoved(self.reader))
        if code == _hr(scard.SCARD_W_RESET_CARD):
            return self._hcard_dead(CardReset(self.reader))
        if code in _SERVICE_DOWN:
            return self._hcard_dead(PcscUnavailable("the smart-card service pcscd stopped; restart it"))
        # vpcd and many readers report a card pulled mid-APDU as a failed transaction; pcscd only
        # notices the removal at its next poll, so watch the card state for a moment.
        if self._card_gone_within(_REMOVAL_GRACE_S):
            return self._hcard_dead(CardRemoved(self.reader))
        return CardIoError(f"communication with the card failed during {operation}: {_pcsc_message(hr)}")

    def _card_gone_within(self, grace_s: float) -> bool:
        deadline = time.monotonic() + grace_s
        while True:
            hr, _reader, state, _proto, _atr = scard.SCardStatus(self._hcard)
            if _hr(hr) in _CARD_GONE or _hr(hr) in _READER_GONE:
                return True
            if hr == scard.SCARD_S_SUCCESS and not state & _SCARD_STATUS_PRESENT:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)

    def _hcard_dead(self, reason: CardError) -> CardError:
        """Drop the card handle (the session is over) and remember why; returns ``reason``."""
        hcard, self._hcard, self._dead = self._hcard, None, reason
        if hcard is not None:
            scard.SCardDisconnect(hcard, scard.SCARD_LEAVE_CARD)
        return reason

    # -- profile operations --------------------------------------------------------------------------

    def _select_ef(self, fid: int, what: str) -> None:
        _, sw = self._transmit(p.select_ef(fid), f"SELECT {what}")
        if sw == p.SW_FILE_NOT_FOUND:
            raise NotAJpkiCard(f"the card has no {what} (EF {fid:04X}); is it a My Number card?")
        if sw != p.SW_OK:
            raise CardProtocolError(sw, f"SELECT {what}")

    def _read(self, offset: int, le: int, what: str) -> bytes:
        data, sw = self._transmit(p.read_binary(offset, le), f"READ BINARY {what}")
        if sw not in (p.SW_OK, p.SW_END_OF_FILE) or not data:
            raise CardProtocolError(sw, f"READ BINARY {what} at offset {offset}")
        return data

    def _read_certificate(self, fid: int, what: str) -> bytes:
        self._select_ef(fid, what)
        data = bytearray(self._read(0, 4, what))
        total = _der_total_length(bytes(data))
        if total > p.MAX_CERT_SIZE:
            raise NotAJpkiCard(f"the {what} on the card claims {total} bytes, more than a certificate")
        del data[total:]
        while len(data) < total:
            data += self._read(len(data), min(p.READ_CHUNK, total - len(data)), what)
        if len(data) != total:
            raise CardIoError(f"the card sent more bytes of the {what} than its header announced")
        return bytes(data)

    def read_auth_certificate(self) -> bytes:
        """The authentication certificate (DER), EF 000A; no PIN needed."""
        return self._read_certificate(p.EF_AUTH_CERT, "authentication certificate")

    def read_ca_certificate(self) -> bytes:
        """The CA certificate of the authentication certificate (DER), EF 000B."""
        return self._read_certificate(p.EF_AUTH_CA_CERT, "authentication CA certificate")

    def pin_tries_left(self) -> int:
        """How many PIN attempts remain (0 = blocked); uses no attempt."""
        self._select_ef(p.EF_AUTH_PIN, "authentication PIN")
        _, sw = self._transmit(p.verify_status(), "VERIFY (status)")
        if sw & 0xFFF0 == p.SW_PIN_TRIES_MASK:
            return sw & 0x0F
        if sw == p.SW_PIN_BLOCKED:
            return 0
        if sw == p.SW_OK:  # ISO 7816-4: already verified in this session
            return p.PIN_MAX_TRIES
        raise CardProtocolError(sw, "VERIFY (status)")

    def verify_pin(self, pin: str) -> None:
        """Verify the authentication PIN; raises WrongPin(tries_left), PinBlocked or PinFormatError."""
        try:
            apdu = p.verify_pin(pin)
        except ValueError:
            raise PinFormatError() from None
        self._select_ef(p.EF_AUTH_PIN, "authentication PIN")
        _, sw = self._transmit(apdu, "VERIFY PIN")
        if sw == p.SW_OK:
            return
        if sw == p.SW_PIN_BLOCKED or sw == p.pin_tries_sw(0):
            raise PinBlocked()
        if sw & 0xFFF0 == p.SW_PIN_TRIES_MASK:
            raise WrongPin(sw & 0x0F)
        raise CardProtocolError(sw, "VERIFY PIN")

    def read_identity(self, pin: str, challenge: bytes) -> tuple[bytes, bytes, bytes]:
        """The card's own identity files (:mod:`wire.card_identity`: EF 0002 and its issuer-signed EF 0003)
        from its 券面事項入力補助 application, after that application's own PIN, and its key's signature
        over ``challenge`` (the server's, for this registration); raises WrongPin, PinBlocked or
        PinFormatError like :meth:`verify_pin`. The JPKI application is selected again after (its PIN
        verification is forgotten)."""
        try:
            apdu = p.verify_pin(pin)
        except ValueError:
            raise PinFormatError() from None
        _, sw = self._transmit(p.select_aid(card_identity.AID_KENHOJO), "SELECT identity application")
        if sw != p.SW_OK:
            raise NotAJpkiCard(f"the card has no 券面事項入力補助 application (SW {sw:04X})")
        try:
            self._select_ef(card_identity.EF_IDENTITY_PIN, "identity PIN")
            _, sw = self._transmit(apdu, "VERIFY identity PIN")
            if sw == p.SW_PIN_BLOCKED or sw == p.pin_tries_sw(0):
                raise PinBlocked()
            if sw & 0xFFF0 == p.SW_PIN_TRIES_MASK:
                raise WrongPin(sw & 0x0F)
            if sw != p.SW_OK:
                raise CardProtocolError(sw, "VERIFY identity PIN")
            files = (
                self._read_tlv_file(card_identity.EF_BASIC_FOUR, "identity"),
                self._read_tlv_file(card_identity.EF_SIGNATURE, "identity signature"),
            )
            return (
                *files,
                self._sign_with(card_identity.EF_IDENTITY_KEY, card_identity.challenge_digest(challenge)),
            )
        finally:
            self._transmit(p.select_aid(), "SELECT JPKI application")

    def _read_tlv_file(self, fid: int, what: str) -> bytes:
        """A file holding one BER-TLV with a two-byte tag, read whole."""
        self._select_ef(fid, what)
        data = bytearray(self._read(0, 5, what))
        first = data[2] if len(data) > 2 else 0xFF
        head = 3 if first < 0x80 else {0x81: 4, 0x82: 5}.get(first, 0)
        if not head or len(data) < head:
            raise CardIoError(f"the {what} on the card does not start with a TLV header")
        total = head + (first if first < 0x80 else int.from_bytes(data[3:head], "big"))
        del data[total:]
        while len(data) < total:
            data += self._read(len(data), min(p.READ_CHUNK, total - len(data)), what)
        return bytes(data)

    def sign_digest(self, sha256_digest: bytes) -> bytes:
        """Sign a SHA-256 digest (PKCS#1 v1.5 over its DigestInfo) with the authentication key."""
        return self._sign_with(p.EF_AUTH_KEY, sha256_digest)

    def _sign_with(self, key_ef: int, sha256_digest: bytes) -> bytes:
        digest_info = p.sha256_digest_info(sha256_digest)
        self._select_ef(key_ef, "signing key")
        signature, sw = self._transmit(p.compute_signature(digest_info), _SIGNATURE_OP)
        if sw == p.SW_SECURITY_NOT_SATISFIED:
            raise CardProtocolError(sw, f"{_SIGNATURE_OP} (verify the PIN first)")
        if sw != p.SW_OK or not signature:
            raise CardProtocolError(sw, _SIGNATURE_OP)
        return signature

    def is_present(self) -> bool:
        """True while the card is still in the reader (cheap; for session watchdogs)."""
        with self._lock:
            if self._hcard is None:
                return False
            hr, _reader, state, _proto, _atr = scard.SCardStatus(self._hcard)
        return hr == scard.SCARD_S_SUCCESS and bool(state & _SCARD_STATUS_PRESENT)

    # -- closing -------------------------------------------------------------------------------------

    def _disconnect(self, disposition: int, release_context: bool = True) -> None:
        with self._lock:
            hcard, self._hcard = self._hcard, None
            ctx = self._ctx if release_context else None
            self._ctx = None
        if hcard is not None:
            scard.SCardDisconnect(hcard, disposition)
        if ctx is not None:
            scard.SCardReleaseContext(ctx)

    def close(self) -> None:
        """Disconnect and reset the card, so its PIN verification does not outlive the session."""
        self._disconnect(scard.SCARD_RESET_CARD)

    def __enter__(self) -> JpkiCard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            with contextlib.suppress(Exception):  # interpreter shutdown: best effort only
                self.close()
