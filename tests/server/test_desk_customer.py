"""The customer display's PIN entry: the new PIN twice alike, then the card's identity PIN; handed out
once, as a pair; the display's state never carries a PIN."""

from __future__ import annotations

import json

import pytest

from registration.desk.customer import PinEntry


async def test_the_new_pin_twice_then_the_identity_pin() -> None:
    entry = PinEntry()
    typed = entry.begin()
    entry.submit("1234")
    assert entry.state()["step"] == "repeat"
    entry.submit("9999")
    assert entry.state()["step"] == "mismatch"  # two entries differ: start again
    entry.submit("1234")
    entry.submit("1234")
    assert entry.state()["step"] == "identity" and entry.state()["accepts_pin"]
    assert not typed.done()
    entry.submit("5678")
    assert typed.result() == ("1234", "5678") and entry.state()["step"] == "checking"
    with pytest.raises(LookupError):
        entry.submit("0000")  # nothing is asked now
    assert "1234" not in json.dumps(entry.state()) and "5678" not in json.dumps(entry.state())
