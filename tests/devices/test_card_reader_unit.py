"""Card-layer pieces that need no PC/SC: DER length parsing, error codes and messages."""

from __future__ import annotations

import pytest

from devices.card import errors as card_errors
from devices.card.errors import NotAJpkiCard, WrongPin
from devices.card.jpki import _der_total_length


@pytest.mark.parametrize(
    ("head", "total"),
    [("3082037b", 0x37B + 4), ("30819f01", 0x9F + 3), ("30450201", 0x45 + 2)],
)
def test_der_length_header(head: str, total: int) -> None:
    assert _der_total_length(bytes.fromhex(head)) == total


@pytest.mark.parametrize("head", ["04820100", "3083010000", "3080", ""])
def test_der_length_header_rejects(head: str) -> None:
    with pytest.raises(NotAJpkiCard):
        _der_total_length(bytes.fromhex(head))


def test_error_codes_are_stable_and_unique() -> None:
    classes = [
        c for c in vars(card_errors).values() if isinstance(c, type) and issubclass(c, card_errors.CardError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes))
    assert {"pcsc_unavailable", "no_reader", "no_card", "card_removed", "card_pin_wrong"} <= set(codes)


def test_messages_say_what_to_do() -> None:
    assert "1 try left" in WrongPin(1).message
    assert "city hall" in card_errors.PinBlocked().message
    assert "sudo pcscd" in card_errors.PcscUnavailable().message
    err = card_errors.CardProtocolError(0x6982, "COMPUTE SIGNATURE")
    assert err.sw == 0x6982 and "6982" in str(err) and "PIN not verified" in str(err)
