"""The card on the desk reader: registered with the PIN the resident types on the customer display, or
checked before an unlock."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

from devices.card.errors import CardError, NoReader
from devices.card.jpki import JpkiCard, card_id_from_certificate
from devices.card.pcsc import list_readers
from registration.desk.keys import API, ENTRY, PIN_WAIT_S, READER, SESSION
from registration.desk.pages.record import atena_no_of, record_page
from registration.desk.rendering import page
from registration.desk.staff_calls import call
from registration.desk.words import Said, said_of, say
from wire.card_identity import challenge_digest, registration_body
from wire.http_json import HttpError

routes = web.RouteTableDef()


async def card_refusal(request: web.Request, atena_no: str) -> Said | None:
    """Why the card on the desk reader may not unlock this resident's kiosk use (None when it may)."""
    try:
        card_id = card_id_from_certificate(await asyncio.to_thread(_read_certificate, request.app[READER]))
    except CardError as exc:
        return say("desk.put_card_on_reader", detail=f"{exc} ({exc.code})")
    listed = await call(request, "GET", "/clerk/api/registrations", query={"atena_no": atena_no})
    locked = [r["card_serial"] for r in listed["registrations"] if r["status"] == "locked"]
    return None if card_id in locked else say("desk.card_mismatch")


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


@dataclass
class Registering:
    """The one registration a desk runs at a time (it has one reader and one customer display): the
    resident types on the display meanwhile; the clerk's page shows progress and may cancel it."""

    atena_no: str
    staff_sid: str
    task: asyncio.Task[Said]
    outcome: Said | None = None
    ok: bool = False


REGISTERING: Final = web.AppKey("registering", Registering)


@routes.post("/residents/{atena_no}/register")
async def register_card(request: web.Request) -> web.Response:
    """Start a registration: the card on the desk reader, then the resident types the new PIN twice and the
    card's identity PIN on the customer display (the PINs never reach this page); the clerk's page follows
    it at ``GET .../register`` and may cancel it."""
    atena_no = atena_no_of(request)
    running = request.app.get(REGISTERING)
    if running is not None and not running.task.done():
        return await record_page(request, atena_no, 409, error=say("desk.registration_busy"))
    try:
        certificate = await asyncio.to_thread(_read_certificate, request.app[READER])
    except CardError as exc:
        return await record_page(request, atena_no, 400, error=say(exc.code, detail=str(exc)))
    session = request[SESSION]
    task = asyncio.get_running_loop().create_task(
        _register(request.app, session.token, atena_no, certificate)
    )
    request.app[REGISTERING] = Registering(atena_no, session.sid, task)
    raise web.HTTPSeeOther(f"/residents/{atena_no}/register")


@routes.get("/residents/{atena_no}/register")
async def registration_progress(request: web.Request) -> web.Response:
    """While the resident types: what the customer display asks, and a cancel; then the outcome."""
    atena_no = atena_no_of(request)
    running = request.app.get(REGISTERING)
    if running is None or running.atena_no != atena_no or running.staff_sid != request[SESSION].sid:
        raise web.HTTPSeeOther(f"/residents/{atena_no}")
    if not running.task.done():
        step = request.app[ENTRY].step
        return page(request, "registering.html", atena_no=atena_no, step=step)
    del request.app[REGISTERING]
    outcome = running.outcome or running.task.result()
    if running.ok or outcome.code == "desk.registration_cancelled":
        return await record_page(request, atena_no, notice=outcome)
    return await record_page(request, atena_no, 400, error=outcome)


@routes.get("/residents/{atena_no}/register/status")
async def registration_status(request: web.Request) -> web.Response:
    """For the progress page's script: whether the registration is over, and the display's step."""
    running = request.app.get(REGISTERING)
    done = running is None or running.task.done()
    return web.json_response({"done": done, "step": request.app[ENTRY].step})


@routes.post("/residents/{atena_no}/register/cancel")
async def cancel_registration(request: web.Request) -> web.Response:
    atena_no = atena_no_of(request)
    running = request.app.get(REGISTERING)
    if running is not None and running.atena_no == atena_no and not running.task.done():
        running.outcome = say("desk.registration_cancelled")
        running.task.cancel()
        request.app[ENTRY].cancel("cancelled")
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running.task
    raise web.HTTPSeeOther(f"/residents/{atena_no}/register")


async def _register(app: web.Application, token: str, atena_no: str, certificate: bytes) -> Said:
    """The registration's work; its outcome for the clerk (``Registering.ok`` set when registered)."""
    entry, reader, api = app[ENTRY], app[READER], app[API]
    try:
        pin, identity_pin = await asyncio.wait_for(entry.begin(), app[PIN_WAIT_S])
    except TimeoutError:
        entry.cancel()
        return say("desk.pin_not_entered")
    body: dict[str, Any] = {}
    try:
        asked = await api.call("POST", "/clerk/api/registrations/challenge", token=token)
        challenge = base64.b64decode(asked["challenge"])
        signature, identity = await asyncio.to_thread(_check_on_card, reader, pin, identity_pin, challenge)
        body = registration_body(atena_no, pin, challenge, certificate, signature, identity)
        registered = await api.call("POST", "/clerk/api/registrations", token=token, body=body)
    except CardError as exc:
        entry.finish(False)
        return say(exc.code, detail=str(exc))
    except HttpError as exc:
        entry.finish(False)
        return said_of(exc)
    finally:
        del body, pin, identity_pin
    entry.finish(True)
    app[REGISTERING].ok = True
    return say("desk.registered", card_id=registered["card_id"])
