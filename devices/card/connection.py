"""The seam between the card's protocol and its transport, as yubikit separates them: the JPKI protocol
(:mod:`devices.card.jpki`) sends APDUs through a :class:`CardConnection`; :mod:`devices.card.pcsc`
implements it over PC/SC."""

from __future__ import annotations

from typing import Protocol, Self


class CardConnection(Protocol):
    """One exclusive connection to the card in a reader."""

    reader: str

    @classmethod
    def connect(cls, reader: str | None = None, timeout_s: float = 0.0) -> Self:
        """Connect to the card in ``reader`` (default: the first with a card), waiting up to ``timeout_s``."""
        ...

    def transmit(self, apdu: bytes, operation: str) -> tuple[bytes, int]:
        """Send one command APDU; return (response data, status word). ``operation`` names it in errors."""
        ...

    def is_present(self) -> bool:
        """True while the card is still in the reader."""
        ...

    def disconnect(self, reset: bool = True) -> None:
        """End the connection; ``reset`` resets the card, so that no PIN verification outlives it."""
        ...
