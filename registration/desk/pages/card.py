"""The card on the desk reader: registered with the PIN the resident types on the customer display, or
checked before an unlock."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Final

from aiohttp import web

from devices.card.errors import CardError, NoReader
from devices.card.jpki import JpkiCard, card_id_from_certificate
from devices.card.pcsc import list_readers
from registration.desk.keys import ENTRY, PIN_WAIT_S, READER
from registration.desk.pages.record import atena_no_of, record_page
from registration.desk.staff_calls import call, error_text, page_status
from wire.card_identity import challenge_digest, registration_body
from wire.http_json import HttpError

routes = web.RouteTableDef()


async def card_refusal(request: web.Request, atena_no: str) -> str:
    """Why the card on the desk reader may not unlock this resident's kiosk use ("" when it may)."""
    try:
        card_id = card_id_from_certificate(await asyncio.to_thread(_read_certificate, request.app[READER]))
    except CardError as exc:
        return f"put the resident's card on the desk reader to unlock: {exc} ({exc.code})"
    listed = await call(request, "GET", "/clerk/api/registrations", query={"atena_no": atena_no})
    locked = [r["card_serial"] for r in listed["registrations"] if r["status"] == "locked"]
    if card_id not in locked:
        return "the card on the desk reader is not this resident's locked card (card_mismatch)"
    return ""


CARD_WAIT_S: Final = 10.0  # how long the desk waits for the resident's card to be put on its reader


def _connect(reader: str | None) -> JpkiCard:
    """The card on the desk reader, waited for up to ``CARD_WAIT_S``; a named reader that is not connected
    at all is said at once (the clerk plugs it in), not after the wait."""
    if reader is not None:
        connected = list_readers()
        if reader not in connected:
            raise NoReader(
                f"the desk reader {reader!r} is not connected; plug it in (readers: {', '.join(connected) or 'none'})"
            )
    return JpkiCard.connect(reader, timeout_s=CARD_WAIT_S)


def _read_certificate(reader: str | None) -> bytes:
    with _connect(reader) as card:
        return card.read_auth_certificate()


def _check_on_card(
    reader: str | None, pin: str, identity_pin: str, challenge: bytes
) -> tuple[bytes, tuple[bytes, bytes, bytes]]:
    """The new PIN verified on the card and the challenge signed with its authentication key, then the
    card's identity files read (and the challenge signed) with its identity PIN."""
    with _connect(reader) as card:
        card.verify_pin(pin)
        signature = card.sign_digest(challenge_digest(challenge))
        return signature, card.read_identity(identity_pin, challenge)


@routes.post("/residents/{atena_no}/register")
async def register_card(request: web.Request) -> web.Response:
    """The card on the desk reader, the PIN typed twice by the resident on the customer display, verified
    on the card, and the card's own identity read with its identity PIN (typed there too), then registered
    with the server, which checks that identity. The PINs never reach this page."""
    atena_no = atena_no_of(request)
    entry, reader = request.app[ENTRY], request.app[READER]
    try:
        certificate = await asyncio.to_thread(_read_certificate, reader)
    except CardError as exc:
        return await record_page(request, atena_no, 400, error=f"{exc} ({exc.code})")
    try:
        pin, identity_pin = await asyncio.wait_for(entry.begin(), request.app[PIN_WAIT_S])
    except (TimeoutError, asyncio.CancelledError):
        entry.cancel()
        return await record_page(request, atena_no, 408, error="the PIN was not entered in time; start again")
    body: dict[str, Any] = {}
    try:
        asked = await call(request, "POST", "/clerk/api/registrations/challenge")
        challenge = base64.b64decode(asked["challenge"])
        signature, identity = await asyncio.to_thread(_check_on_card, reader, pin, identity_pin, challenge)
        body = registration_body(atena_no, pin, challenge, certificate, signature, identity)
        registered = await call(request, "POST", "/clerk/api/registrations", body=body)
    except CardError as exc:
        entry.finish(False)
        return await record_page(request, atena_no, 400, error=f"{exc} ({exc.code})")
    except HttpError as exc:
        entry.finish(False)
        return await record_page(request, atena_no, page_status(exc), error=error_text(exc))
    finally:
        del body, pin, identity_pin
    entry.finish(True)
    return await record_page(
        request, atena_no, notice=f"カードを登録しました card {registered['card_id']} registered"
    )
