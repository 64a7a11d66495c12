"""The kiosk's card, for the engine: a card that another program holds a moment after it is placed is waited
for; one held for longer is reported busy."""

from __future__ import annotations

from typing import Any

import pytest

from kiosk import pcsc_card
from kiosk.card_reader import CardBusy
from kiosk.pcsc_card import PcscCard


class HeldCard:
    """``JpkiCard.connect`` for a card another program holds for the first ``held`` attempts."""

    def __init__(self, held: int) -> None:
        self.held, self.attempts = held, 0

    def connect(self, reader: str, timeout_s: float = 0.0) -> Any:
        self.attempts += 1
        if self.attempts <= self.held:
            raise CardBusy(reader)
        return self

    def read_auth_certificate(self) -> bytes:
        return b"certificate"

    def close(self) -> None:
        pass


async def test_a_card_held_a_moment_after_it_is_placed_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldCard(held=3)
    monkeypatch.setattr(pcsc_card, "JpkiCard", held)
    assert await PcscCard("Reader 00").open() == b"certificate"
    assert held.attempts == 4


async def test_a_card_held_for_longer_is_reported_busy(monkeypatch: pytest.MonkeyPatch) -> None:
    held = HeldCard(held=10_000)
    monkeypatch.setattr(pcsc_card, "JpkiCard", held)
    monkeypatch.setattr(pcsc_card, "BUSY_WAIT_S", 0.3)
    with pytest.raises(CardBusy):
        await PcscCard("Reader 00").open()
    assert 1 <= held.attempts < 100  # tried for a while, not forever
