"""The kiosk's message catalogues: one gettext ``.po`` file per language in ``kiosk/messages/``, read with
Babel (no build step). Every code the server or the engine sends is rendered here, in the resident's
language; a code a catalogue lacks is shown as itself, never as another message."""

from __future__ import annotations

from typing import Any

from wire.catalogues import fill, languages_of, read_catalogue

MESSAGES = "kiosk.messages"
# Messages that say something went wrong for the resident: shown in the error style, next to the control.
ERROR_MESSAGES = frozenset(
    {
        "pin_wrong", "pin_blocked", "registration_locked", "registration_suspended", "card_not_registered",
        "card_unreadable", "service_unavailable", "choice_not_possible", "payment_insufficient",
        "payment_device_error", "print_failed", "print_stopped", "print_in_doubt", "kiosk_error",
        "refund_failed", "credential_untrusted", "phone_not_linked",
    }
)  # fmt: skip


def languages() -> tuple[str, ...]:
    """Languages with a catalogue, in the order of the language screen."""
    return languages_of(MESSAGES)


def catalogue(language: str) -> dict[str, str]:
    return read_catalogue(MESSAGES, language)


def render(language: str, key: str, params: dict[str, Any] | None = None) -> str:
    text = catalogue(language).get(key)
    return key if text is None else fill(text, params)


def message_style(message: dict[str, Any]) -> str:
    """``error`` for a message that says something went wrong, else ``info``."""
    return "error" if message.get("code") in ERROR_MESSAGES else "info"


def render_message(language: str, message: dict[str, Any]) -> str:
    """A ``{"code", "params"}`` from the server (a reason) or from the engine (a kiosk message)."""
    code, params = str(message.get("code", "")), dict(message.get("params") or {})
    key = f"msg.{code}" if f"msg.{code}" in catalogue(language) else f"reason.{code}"
    text = render(language, key, params)
    if params.get("refunded_yen") and key != "msg.refunded":
        text += " " + render(language, "msg.refunded", params)
    return text
