"""What the kiosk holds about the resident in front of it, dropped whole when the session ends."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Paid:
    reference: str
    amount_yen: int
    kept_yen: int = 0  # fees of copies printed
    refunded_yen: int = 0
    refund_failed_yen: int = 0  # the device failed to give this back: the store's staff must


@dataclass
class Visit:
    """Everything about the resident in front of the kiosk; dropped whole when the session ends."""

    certificate: bytes = b""
    session_id: str = ""
    nonce: str = ""
    nonce_deadline: float = 0.0
    service: str = ""
    tries_left: int | None = None
    menu: list[dict[str, Any]] | None = None
    kind: str | None = None
    choices: dict[str, Any] | None = None
    quote: dict[str, Any] | None = None
    payments: dict[str, Paid] = field(default_factory=dict)
    certificates: list[dict[str, Any]] = field(default_factory=list)
    authenticated: bool = False  # the PIN was verified: the card is no longer needed
    form: str = "card"  # the credential's form: card, or a phone's (android, iphone)
    send_pin: bool = True  # the server asks the registered PIN of this credential (the city's policy)
    phones: list[dict[str, Any]] = field(default_factory=list)  # the phone forms the server accepts
    phone_linking: bool = False  # the server lets a resident signed in with the card link a phone here
    link_certificate: bytes = b""  # the phone being linked (empty: an Android phone, until its PIN)
    link_form: str = ""
    card_blocked: bool = False  # the card's own PIN is blocked: reported to the server, the session ends
