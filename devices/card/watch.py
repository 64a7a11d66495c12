"""Card inserted / removed events from one PC/SC reader, delivered to an event loop (the kiosk app's).

A thread blocks in ``SCardGetStatusChange`` (0.5 s at a time, so it stops promptly) and calls back on the
loop whenever the reader's card presence changes. pcscd going away or the reader vanishing counts as no
card; the watcher keeps trying until pcscd answers again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

from smartcard import scard

log = logging.getLogger("konbini.kiosk.card")

_WAIT_MS = 500


class CardWatcher:
    def __init__(
        self, reader: str, on_change: Callable[[bool], None], loop: asyncio.AbstractEventLoop
    ) -> None:
        self.reader = reader
        self._on_change = on_change
        self._loop = loop
        self._stop = threading.Event()
        self._present: bool | None = None
        self._thread = threading.Thread(target=self._run, name="card-watch", daemon=True)

    @property
    def present(self) -> bool:
        return bool(self._present)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _report(self, present: bool) -> None:
        if present != self._present:
            self._present = present
            self._loop.call_soon_threadsafe(self._on_change, present)

    def _run(self) -> None:
        while not self._stop.is_set():
            hr, ctx = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
            if hr != scard.SCARD_S_SUCCESS:
                self._report(False)
                self._stop.wait(1.0)
                continue
            try:
                self._follow(ctx)
            finally:
                scard.SCardReleaseContext(ctx)

    def _follow(self, ctx: Any) -> None:
        """Report changes until pcscd fails (then the caller makes a new context) or we are stopped."""
        state = scard.SCARD_STATE_UNAWARE
        while not self._stop.is_set():
            hr, result = scard.SCardGetStatusChange(ctx, _WAIT_MS, [(self.reader, state)])
            if hr == scard.SCARD_E_TIMEOUT:
                continue
            if hr != scard.SCARD_S_SUCCESS or not result:
                self._report(False)  # no reader (yet), or pcscd went away
                self._stop.wait(0.5)
                return
            _name, new_state, _atr = result[0]
            state = int(new_state) & ~scard.SCARD_STATE_CHANGED
            if state & scard.SCARD_STATE_UNKNOWN:
                self._report(False)
                self._stop.wait(0.5)
                return
            self._report(bool(state & scard.SCARD_STATE_PRESENT) and not state & scard.SCARD_STATE_MUTE)
