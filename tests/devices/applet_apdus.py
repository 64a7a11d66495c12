"""Helpers for tests that drive the virtual card's applet with APDUs directly."""

from __future__ import annotations

from devices.card.apdu import StatusWord
from devices.card.virtual.applet import VirtualCard


def sw(resp: bytes) -> int:
    """The status word of a response APDU."""
    return int.from_bytes(resp[-2:], "big")


def ok(card: VirtualCard, apdu: bytes) -> bytes:
    """Send ``apdu``, insist on 90 00, return the data."""
    resp = card.process(apdu)
    assert sw(resp) == StatusWord.OK, f"{apdu.hex()} -> {resp[-2:].hex()}"
    return resp[:-2]
