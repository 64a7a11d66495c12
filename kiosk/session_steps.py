"""The steps of a kiosk session and the one table of its transitions: (step, event) -> next step.

    language -> card -> pin -> menu -> options -> confirm (quote) -> payment -> issuing -> ready
             -> printing -> done (what happened, in the session's language) -> language

A phone of the iPhone form whose PIN the city leaves to the phone goes from the card step straight to the
menu. A resident signed in with the card may link a phone from the menu: link_phone (hold it) -> link_pin
(its PIN) -> menu.

The card is needed only until the PIN is verified: the menu asks the resident to take it back, and its
removal after that is expected (a shorter idle limit then applies). A session may end at any step (card
pulled before the PIN was verified, idle, cancelled, refused, a defect): to the take-card alarm while a card
is in the reader, else to the done screen, which clears itself after a few seconds. :func:`next_step` is the one
place a transition is checked; one the table does not hold is a defect (:class:`IllegalTransition`).
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType


class Step(StrEnum):
    LANGUAGE = "language"
    CARD = "card"
    PIN = "pin"
    MENU = "menu"
    OPTIONS = "options"
    CONFIRM = "confirm"
    PAYMENT = "payment"
    ISSUING = "issuing"
    READY = "ready"
    PRINTING = "printing"
    TAKE_CARD = "take_card"
    DONE = "done"
    LINK_PHONE = "link_phone"  # hold the phone to link over the reader
    LINK_PIN = "link_pin"  # the phone's PIN (an Android phone's own; an iPhone's chosen now)


class Event(StrEnum):
    """What moves a session on (or keeps it on its step with a new message)."""

    LANGUAGE_CHOSEN = "language_chosen"
    IDLE = "idle"  # nobody at the first screens: back to the first, in the first language
    CARD_READ = "card_read"  # and a server session opened
    PIN_WRONG = "pin_wrong"
    AUTHENTICATED = "authenticated"  # the menu arrived
    KIND_SELECTED = "kind_selected"
    BACK = "back"
    CHOICE_REFUSED = "choice_refused"  # the server would not quote these choices
    QUOTED = "quoted"
    PAY = "pay"
    PAYMENT_FAILED = "payment_failed"
    PAID = "paid"
    ISSUED = "issued"
    ISSUE_REFUSED = "issue_refused"  # back to the menu as the server now sees it
    PRINT = "print"
    ENDED_WITH_CARD = "ended_with_card"  # the session ended, the card still in the reader
    FINISHED = "finished"  # the session ended (or the card left after it): what happened, then clear it
    WIPED = "wiped"  # nothing of the resident stays
    LINK_CHOSEN = "link_chosen"  # "register a smartphone" on the menu
    PHONE_READ = "phone_read"  # the phone to link is on the reader
    LINK_ENDED = "link_ended"  # linked, or not (said in the message): back to the menu


# Steps where the engine waits for the resident (the idle timeout runs) rather than for a device.
WAITING_FOR_RESIDENT = frozenset(
    {
        Step.CARD, Step.PIN, Step.MENU, Step.OPTIONS, Step.CONFIRM, Step.READY, Step.TAKE_CARD, Step.LINK_PHONE,
        Step.LINK_PIN,
    }
)  # fmt: skip

TRANSITIONS: Mapping[tuple[Step, Event], Step] = MappingProxyType(
    {
        (Step.LANGUAGE, Event.LANGUAGE_CHOSEN): Step.CARD,
        (Step.LANGUAGE, Event.IDLE): Step.LANGUAGE,
        (Step.CARD, Event.IDLE): Step.LANGUAGE,
        (Step.CARD, Event.CARD_READ): Step.PIN,
        (Step.CARD, Event.AUTHENTICATED): Step.MENU,  # a phone that verified its owner itself
        (Step.PIN, Event.PIN_WRONG): Step.PIN,
        (Step.PIN, Event.AUTHENTICATED): Step.MENU,
        (Step.MENU, Event.KIND_SELECTED): Step.OPTIONS,
        (Step.OPTIONS, Event.BACK): Step.MENU,
        (Step.OPTIONS, Event.CHOICE_REFUSED): Step.OPTIONS,
        (Step.OPTIONS, Event.QUOTED): Step.CONFIRM,
        (Step.CONFIRM, Event.BACK): Step.OPTIONS,
        (Step.CONFIRM, Event.PAY): Step.PAYMENT,
        (Step.PAYMENT, Event.PAYMENT_FAILED): Step.CONFIRM,
        (Step.PAYMENT, Event.PAID): Step.ISSUING,
        (Step.ISSUING, Event.ISSUED): Step.READY,
        (Step.ISSUING, Event.ISSUE_REFUSED): Step.MENU,
        (Step.READY, Event.PRINT): Step.PRINTING,
        (Step.MENU, Event.LINK_CHOSEN): Step.LINK_PHONE,
        (Step.LINK_PHONE, Event.PHONE_READ): Step.LINK_PIN,
        (Step.LINK_PHONE, Event.LINK_ENDED): Step.MENU,
        (Step.LINK_PHONE, Event.BACK): Step.MENU,
        (Step.LINK_PIN, Event.PIN_WRONG): Step.LINK_PIN,
        (Step.LINK_PIN, Event.LINK_ENDED): Step.MENU,
        (Step.LINK_PIN, Event.BACK): Step.MENU,
        **{(step, Event.ENDED_WITH_CARD): Step.TAKE_CARD for step in Step},
        **{(step, Event.FINISHED): Step.DONE for step in Step},
        **{(step, Event.WIPED): Step.LANGUAGE for step in Step},
    }
)


# Steps where the card must stay in the reader: its removal ends the session.
CARD_NEEDED = frozenset({Step.CARD, Step.PIN})


class IllegalTransition(RuntimeError):
    """A transition the table does not hold: a defect in the engine (the session is then ended)."""


def next_step(step: Step, event: Event) -> Step:
    """The step ``event`` leads to from ``step`` (:class:`IllegalTransition` when there is none)."""
    try:
        return TRANSITIONS[step, event]
    except KeyError:
        raise IllegalTransition(f"no transition from step {step.value} on {event.value}") from None


class StepError(Exception):
    """An action that does not belong to the current step, or a choice the menu did not offer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
