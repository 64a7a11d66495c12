"""The card on the desk reader: registered with the PIN the resident types on the customer display, or
checked before an unlock."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from typing import Any, Final

from aiohttp import web

from devices.card.errors import CardError, NoReader
from devices.card.jpki import JpkiCard, card_id_from_certificate
from devices.card.pcsc import list_readers
from registration.desk.customer import ASKING
from registration.desk.keys import API, ENTRY, PIN_WAIT_S, READER, REGISTRATION, SESSION
from registration.desk.pages.needs_role import needs_role
from registration.desk.pages.record import atena_no_of, record_page
from registration.desk.registering import Registering
from registration.desk.rendering import page
from registration.desk.staff_calls import call
from registration.desk.words import Said, said_of, say
from wire.card_identity import challenge_digest, registration_body
from wire.http_json import HttpError

routes = web.RouteTableDef()
log = logging.getLogger("konbini.desk")
CANCELLABLE: Final = frozenset({"idle", "phone", *ASKING})  # the display's steps before the PINs are in


async def card_refusal(request: web.Request, atena_no: str) -> Said | None:
    """Why the card on the desk reader may not unlock this resident's kiosk use (None when it may)."""
    try:
        card_id = card_id_from_certificate(await asyncio.to_thread(read_certificate, request.app[READER]))
    except CardError as exc:
        return say("desk.put_card_on_reader", detail=f"{exc} ({exc.code})")
    listed = await call(request, "GET", "/clerk/api/registrations", query={"atena_no": atena_no})
    locked = [r["card_serial"] for r in listed["registrations"] if r["status"] == "locked"]
    return None if card_id in locked else say("desk.card_mismatch")


CARD_WAIT_S: Final = 10.0  # how long the desk waits for the resident's card to be put on its reader


def connect_reader(reader: str | None) -> JpkiCard:
    """The card on the desk reader, waited for up to ``CARD_WAIT_S``; a named reader that is not connected
    at all is said at once (the clerk plugs it in), not after the wait."""
    if reader is not None:
        connected = list_readers()
        if reader not in connected:
            raise NoReader(
                f"the desk reader {reader!r} is not connected; plug it in (readers: {', '.join(connected) or 'none'})"
            )
    return JpkiCard.connect(reader, timeout_s=CARD_WAIT_S)


def read_certificate(reader: str | None) -> bytes:
    with connect_reader(reader) as card:
        return card.read_auth_certificate()


def _check_on_card(
    reader: str | None, pin: str, identity_pin: str, challenge: bytes
) -> tuple[bytes, tuple[bytes, bytes, bytes]]:
    """The new PIN verified on the card and the challenge signed with its authentication key, then the
    card's identity files read (and the challenge signed) with its identity PIN."""
    with connect_reader(reader) as card:
        card.verify_pin(pin)
        signature = card.sign_digest(challenge_digest(challenge))
        return signature, card.read_identity(identity_pin, challenge)


@routes.post("/residents/{atena_no}/register")
async def register_card(request: web.Request) -> web.Response:
    """Start a registration: the card on the desk reader, then the resident types the new PIN twice and the
    card's identity PIN on the customer display (the PINs never reach this page); the clerk's page follows
    it at ``GET .../register`` and may cancel it."""
    return await start_in_slot(request, _register)


Work = Callable[[web.Application, str, Registering], Coroutine[Any, Any, None]]


async def start_in_slot(request: web.Request, work: Work, linking: bool = False) -> web.Response:
    """The desk's one registration slot taken for ``work`` (a card registered, or a phone linked), or a 409
    page when it is busy; then to the progress page."""
    needs_role(request, "registrar")
    atena_no = atena_no_of(request)
    slot = request.app[REGISTRATION]
    if slot.busy():
        return await record_page(request, atena_no, 409, error=say("desk.registration_busy"))
    session = request[SESSION]
    slot.start(atena_no, session.sid, partial(work, request.app, session.token), linking=linking)
    raise web.HTTPSeeOther(f"/residents/{atena_no}/register")


@routes.get("/residents/{atena_no}/register")
async def registration_progress(request: web.Request) -> web.Response:
    """While the resident types: what the customer display asks, and a cancel; then the outcome."""
    needs_role(request, "registrar")
    atena_no = atena_no_of(request)
    slot = request.app[REGISTRATION]
    registering = slot.of(request[SESSION].sid, atena_no)
    if registering is None:
        raise web.HTTPSeeOther(f"/residents/{atena_no}")
    if not registering.done:
        step = request.app[ENTRY].step
        return page(
            request, "registering.html", atena_no=atena_no, step=step, can_cancel=step in CANCELLABLE,
            linking=registering.linking,
        )  # fmt: skip
    outcome = slot.taken(registering) or say("desk.server_trouble", detail="no outcome")
    if registering.ok or outcome.code == "desk.registration_cancelled":
        return await record_page(request, atena_no, notice=outcome)
    return await record_page(request, atena_no, 400, error=outcome)


@routes.get("/residents/{atena_no}/register/status")
async def registration_status(request: web.Request) -> web.Response:
    """For the progress page's script: whether the registration is over, and the display's step."""
    needs_role(request, "registrar")
    registering = request.app[REGISTRATION].of(request[SESSION].sid, atena_no_of(request))
    done = registering is None or registering.done
    return web.json_response({"done": done, "step": request.app[ENTRY].step})


@routes.post("/residents/{atena_no}/register/cancel")
async def cancel_registration(request: web.Request) -> web.Response:
    """Only while the display still asks for a PIN: once the PINs are in, the card may already be bound, and
    the clerk is shown what the server did."""
    needs_role(request, "registrar")
    atena_no = atena_no_of(request)
    slot = request.app[REGISTRATION]
    registering = slot.of(request[SESSION].sid, atena_no)
    if registering is not None and request.app[ENTRY].step in CANCELLABLE:
        await slot.cancel(registering, say("desk.registration_cancelled"))
        request.app[ENTRY].cancel("cancelled")
    raise web.HTTPSeeOther(f"/residents/{atena_no}/register")


def failure_said(exc: Exception, work: str) -> Said:
    """What the clerk is told when the desk's work on the card failed (the display is told ``failed``)."""
    if isinstance(exc, CardError):
        return say(exc.code, detail=str(exc))
    if isinstance(exc, HttpError):
        return said_of(exc)
    log.error("%s failed", work, exc_info=exc)  # a defect: said, and the display not left at "checking"
    return say("desk.server_trouble", detail=type(exc).__name__)


async def _register(app: web.Application, token: str, registering: Registering) -> None:
    """The registration's work; its outcome (and ``ok``) on ``registering``, whatever happens."""
    entry, reader, api = app[ENTRY], app[READER], app[API]
    try:
        certificate = await asyncio.to_thread(read_certificate, reader)
        pin, identity_pin = await asyncio.wait_for(entry.begin(), app[PIN_WAIT_S])
    except CardError as exc:
        registering.outcome = say(exc.code, detail=str(exc))
        return
    except TimeoutError:
        entry.cancel()
        registering.outcome = say("desk.pin_not_entered")
        return
    body: dict[str, Any] = {}
    try:
        asked = await api.call("POST", "/clerk/api/registrations/challenge", token=token)
        challenge = base64.b64decode(asked["challenge"])
        signature, identity = await asyncio.to_thread(_check_on_card, reader, pin, identity_pin, challenge)
        body = registration_body(registering.atena_no, pin, challenge, certificate, signature, identity)
        registered = await api.call("POST", "/clerk/api/registrations", token=token, body=body)
    except Exception as exc:
        entry.finish(False)
        registering.outcome = failure_said(exc, "card registration")
        return
    finally:
        del body, pin, identity_pin
    entry.finish(True)
    registering.ok = True
    registering.outcome = say("desk.registered", card_id=registered["card_id"])
