"""The card's transport over PC/SC (pyscard's low-level ``scard`` API): readers, their cards, one exclusive
connection that carries APDUs. Every PC/SC failure is mapped to a :class:`~devices.card.errors.CardError`
subclass with a stable code."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Final

from smartcard import scard

from devices.card.apdu import expected_length
from devices.card.errors import (
    CardBusy,
    CardError,
    CardIoError,
    CardRemoved,
    CardReset,
    NoCard,
    NoReader,
    PcscUnavailable,
)

log = logging.getLogger(__name__)

_SERVICE_DOWN: Final = {scard.SCARD_E_NO_SERVICE & 0xFFFFFFFF, scard.SCARD_E_SERVICE_STOPPED & 0xFFFFFFFF}
_CARD_GONE: Final = {scard.SCARD_W_REMOVED_CARD & 0xFFFFFFFF, scard.SCARD_E_NO_SMARTCARD & 0xFFFFFFFF}
_READER_GONE: Final = {
    scard.SCARD_E_READER_UNAVAILABLE & 0xFFFFFFFF,
    scard.SCARD_E_UNKNOWN_READER & 0xFFFFFFFF,
}
_SCARD_STATUS_PRESENT: Final = 0x0004  # pcsc-lite SCardStatus() state bit (not the SCARD_STATE_* ones)
_REMOVAL_GRACE_S: Final = 1.5  # pcscd polls vpcd/readers every ~0.4 s; wait that long to confirm removal


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
        state = _states(ctx, [reader])[reader]
        return bool(state & scard.SCARD_STATE_PRESENT)
    finally:
        scard.SCardReleaseContext(ctx)


def _states(ctx: Any, readers: list[str]) -> dict[str, int]:
    if not readers:
        return {}
    hr, result = scard.SCardGetStatusChange(ctx, 0, [(r, scard.SCARD_STATE_UNAWARE) for r in readers])
    if _hr(hr) in _SERVICE_DOWN:
        raise PcscUnavailable()
    if hr != scard.SCARD_S_SUCCESS:
        raise CardIoError(f"cannot read the state of the readers: {_pcsc_message(hr)}")
    return {name: int(state) for name, state, _atr in result}


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


class PcscConnection:
    """An exclusive PC/SC connection to one card (:class:`~devices.card.connection.CardConnection`). Calls
    are serialised by a lock."""

    def __init__(self, ctx: Any, hcard: Any, protocol: int, reader: str) -> None:
        self._ctx = ctx
        self._hcard: Any = hcard
        self._protocol = protocol
        self.reader = reader
        self._lock = threading.Lock()
        self._dead: CardError | None = None  # why the connection ended (card removed, reset, ...)

    # -- connecting ----------------------------------------------------------------------------------

    @classmethod
    def connect(cls, reader: str | None = None, timeout_s: float = 0.0) -> PcscConnection:
        """Connect to the card in ``reader`` (default: the first with a card), waiting up to ``timeout_s`` for
        a card, and for a card that another program holds (or that is still being reset) to be free."""
        ctx = _establish_context()
        try:
            connection = cls._connect_in(ctx, reader, time.monotonic() + max(timeout_s, 0.0))
        except BaseException:
            scard.SCardReleaseContext(ctx)
            raise
        return connection

    @classmethod
    def _connect_in(cls, ctx: Any, reader: str | None, deadline: float) -> PcscConnection:
        while True:
            readers = _list_readers(ctx)
            candidates = [reader] if reader is not None and reader in readers else []
            if reader is None:
                candidates = readers
            states = _states(ctx, candidates)
            busy: CardBusy | None = None
            for name, state in states.items():
                if state & scard.SCARD_STATE_PRESENT and not state & scard.SCARD_STATE_MUTE:
                    try:
                        connection = cls._try_connect(ctx, name)
                    except CardBusy as exc:
                        busy = exc  # held by another program, or still being reset: maybe free in a moment
                        continue
                    if connection is not None:
                        return connection
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise busy or _nothing_found(readers, reader, states)
            if busy is not None:
                time.sleep(min(remaining, 0.1))  # no state change announces the end of another's session
            else:
                _wait_change(ctx, states, remaining)

    @classmethod
    def _try_connect(cls, ctx: Any, reader: str) -> PcscConnection | None:
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
        log.debug("connected to the card in %s (protocol %d)", reader, protocol)
        return cls(ctx, hcard, protocol, reader)

    # -- APDU transport ------------------------------------------------------------------------------

    def transmit(self, apdu: bytes, operation: str) -> tuple[bytes, int]:
        """Send one APDU; return (data, SW). Never logs the APDU (it may hold the PIN)."""
        with self._lock:
            if self._hcard is None:
                raise self._dead or CardIoError("the card connection is closed; connect again")
            hr, resp = scard.SCardTransmit(self._hcard, self._protocol, list(apdu))
            if hr != scard.SCARD_S_SUCCESS:
                raise self._transmit_error(hr, operation)
        if len(resp) < 2:
            raise CardIoError(f"the card sent a truncated answer to {operation}")
        asked = expected_length(apdu)
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

    def is_present(self) -> bool:
        """True while the card is still in the reader (cheap; for session watchdogs)."""
        with self._lock:
            if self._hcard is None:
                return False
            hr, _reader, state, _proto, _atr = scard.SCardStatus(self._hcard)
        return hr == scard.SCARD_S_SUCCESS and bool(state & _SCARD_STATUS_PRESENT)

    # -- closing -------------------------------------------------------------------------------------

    def disconnect(self, reset: bool = True) -> None:
        """End the connection; ``reset`` resets the card, so that no PIN verification outlives it."""
        with self._lock:
            hcard, self._hcard = self._hcard, None
            ctx, self._ctx = self._ctx, None
        if hcard is not None:
            scard.SCardDisconnect(hcard, scard.SCARD_RESET_CARD if reset else scard.SCARD_LEAVE_CARD)
        if ctx is not None:
            scard.SCardReleaseContext(ctx)

    def __del__(self) -> None:
        if getattr(self, "_ctx", None) is not None:
            with contextlib.suppress(Exception):  # interpreter shutdown: best effort only
                self.disconnect()
