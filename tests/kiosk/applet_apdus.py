"""Helpers for tests that drive the virtual card's applet with APDUs directly."""

from __future__ import annotations

from kiosk import card_profile as p
from kiosk.jpki_applet import VirtualCard


def sw(resp: bytes) -> int:
    """The status word of a response APDU."""
    return int.from_bytes(resp[-2:], "big")


def ok(card: VirtualCard, apdu: bytes) -> bytes:
    """Send ``apdu``, insist on 90 00, return the data."""
    resp = card.process(apdu)
    assert sw(resp) == p.SW_OK, f"{apdu.hex()} -> {resp[-2:].hex()}"
    return resp[:-2]
