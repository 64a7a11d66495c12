"""The card in the kiosk's reader, for the engine: :class:`~devices.card.jpki.JpkiCard` (blocking pyscard
calls) run on one worker thread of its own, so the event loop never waits on the card."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from devices.card.errors import CardIoError, CertificateNeedsPin
from devices.card.jpki import JpkiCard

T = TypeVar("T")
CARD_WAIT_S = 3.0


class PcscCard:
    def __init__(self, reader: str) -> None:
        self.reader = reader
        self._card: JpkiCard | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="card")

    async def _call(self, work: Callable[[], T]) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, work)

    def _connected(self) -> JpkiCard:
        if self._card is None:
            raise CardIoError("no card connected")
        return self._card

    async def open(self) -> bytes | None:
        await self.close()
        # Waits for a card just placed, or one another program holds a moment (pcscd resetting it after the
        # last session, middleware probing it): the resident is not told "unreadable" for that.
        self._card = await self._call(lambda: JpkiCard.connect(self.reader, timeout_s=CARD_WAIT_S))
        try:
            return await self._call(self._connected().read_auth_certificate)
        except CertificateNeedsPin:
            return None  # an Android phone: its certificate after its PIN (read_certificate)

    async def read_certificate(self) -> bytes:
        card = self._connected()
        return await self._call(card.read_auth_certificate)

    async def pin_tries_left(self) -> int:
        card = self._connected()
        return await self._call(card.pin_tries_left)

    async def verify_pin(self, pin: str) -> None:
        card = self._connected()
        await self._call(lambda: card.verify_pin(pin))

    async def sign(self, digest: bytes) -> bytes:
        card = self._connected()
        return await self._call(lambda: card.sign_digest(digest))

    async def close(self) -> None:
        """Disconnect and reset the card, so its PIN verification does not outlive the session."""
        card, self._card = self._card, None
        if card is not None:
            await self._call(card.close)
