"""Errors of the card layer: each has a stable ``code`` and a message a person can act on.

Messages never contain a PIN, key material or APDU data.
"""

from __future__ import annotations

from typing import ClassVar

from devices.card.apdu import sw_name


class CardError(Exception):
    """Base of all card-layer errors."""

    code: ClassVar[str] = "card_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PcscUnavailable(CardError):
    code = "pcsc_unavailable"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message
            or "the smart-card service pcscd is not running; start it with `sudo pcscd` "
            "(Debian package pcscd) or `systemctl start pcscd.socket`"
        )


class NoReader(CardError):
    code = "no_reader"


class NoCard(CardError):
    code = "no_card"


class CardRemoved(CardError):
    code = "card_removed"

    def __init__(self, reader: str) -> None:
        super().__init__(f"the card was removed from reader {reader!r}; insert it again and start over")
        self.reader = reader


class CardReset(CardError):
    code = "card_reset"

    def __init__(self, reader: str) -> None:
        super().__init__(f"the card in reader {reader!r} was reset by another program; start over")
        self.reader = reader


class CardBusy(CardError):
    code = "card_busy"

    def __init__(self, reader: str) -> None:
        super().__init__(
            f"the card in reader {reader!r} is in use by another program (a kiosk session?); "
            "close that program or wait for it to finish"
        )
        self.reader = reader


class NotAJpkiCard(CardError):
    code = "not_jpki_card"


class CertificateNeedsPin(CardError):
    """The authentication certificate is shown only after the PIN: a smartphone of the Android form (its
    secure element guards EF 000A with the PIN, where a card shows it to anyone)."""

    code = "certificate_needs_pin"

    def __init__(self) -> None:
        super().__init__("this credential shows its certificate only after its PIN (an Android phone)")


class PinFormatError(CardError, ValueError):
    code = "pin_format"

    def __init__(self) -> None:
        super().__init__("the PIN must be exactly 4 digits (0-9)")


class WrongPin(CardError):
    code = "card_pin_wrong"

    def __init__(self, tries_left: int) -> None:
        plural = "try" if tries_left == 1 else "tries"
        super().__init__(f"the PIN is wrong; {tries_left} {plural} left before the card's PIN is blocked")
        self.tries_left = tries_left


class PinBlocked(CardError):
    code = "card_pin_blocked"

    def __init__(self) -> None:
        super().__init__(
            "the card's PIN is blocked after too many wrong entries; the card holder must have it "
            "reset at the city hall (bring the card and an identity document)"
        )


class CardProtocolError(CardError):
    code = "card_protocol_error"

    def __init__(self, sw: int, operation: str) -> None:
        super().__init__(f"the card answered {sw:04X} ({sw_name(sw)}) to {operation}")
        self.sw = sw
        self.operation = operation


class CardIoError(CardError):
    code = "card_io_error"
