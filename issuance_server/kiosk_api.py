"""The kiosk API (``/api/kiosk/v1``): sessions, card authentication, menu, issue, fetch, print reports."""

from __future__ import annotations

import base64
import binascii
import secrets

from aiohttp import web

from issuance_server import documents, issuance, kiosk_menu
from issuance_server.api_errors import ApiError, field, json_response, read_json
from issuance_server.audit import Actor
from issuance_server.clock import JST, utc_now
from issuance_server.core import ServerCore, core_of, token_hash
from issuance_server.facts import load_facts
from issuance_server.kiosk_sessions import KioskSession
from issuance_server.pin_attempts import check_pin
from wire.kiosk_api import ErrorCode, auth_message

routes = web.RouteTableDef()


async def kiosk_actor(request: web.Request) -> Actor:
    core = core_of(request)
    kiosk_id = request.headers.get("X-Kiosk-Id", "")
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    if kiosk_id and token:
        row = await core.db.fetchone(
            "SELECT token_hash FROM kiosks WHERE kiosk_id = ? AND active = 1", (kiosk_id,)
        )
        if row is not None and secrets.compare_digest(row[0], token_hash(token)):
            return Actor("kiosk", kiosk_id, kiosk_id)
    raise ApiError(401, ErrorCode.KIOSK_UNAUTHORIZED, "unknown kiosk or wrong kiosk token")


async def kiosk_session(request: web.Request) -> tuple[ServerCore, Actor, KioskSession]:
    actor = await kiosk_actor(request)
    core = core_of(request)
    return core, actor, core.sessions.get(request.match_info["session_id"], actor.actor_id)


async def _authenticated(core: ServerCore, session: KioskSession) -> str:
    """The card holder of an authenticated session whose registration is still active (a card suspended
    at the desk mid-session, e.g. reported stolen, stops the session at its next step)."""
    if session.atena_no is None:
        raise ApiError(401, ErrorCode.NOT_AUTHENTICATED, "authenticate with the card and PIN first")
    row = await core.db.fetchone(
        "SELECT status FROM registrations WHERE registration_id = ?", (session.registration_id,)
    )
    if row is None or row["status"] != "active":
        status = row["status"] if row else "revoked"
        code = {"locked": ErrorCode.REGISTRATION_LOCKED, "suspended": ErrorCode.REGISTRATION_SUSPENDED}.get(
            status, ErrorCode.CARD_NOT_REGISTERED
        )
        raise ApiError(403, code, f"kiosk use is {status} for this card; please ask at the city hall")
    return session.atena_no


def _b64(data: dict[str, object], name: str, max_len: int) -> bytes:
    text = field(data, name, str)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, ErrorCode.BAD_FIELD, f"field '{name}' must be base64", field=name) from None
    if not raw or len(raw) > max_len:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"field '{name}' has a wrong length", field=name)
    return raw


def service_status(core: ServerCore) -> str:
    if (
        not core.replica.ready
        or core.mode == "maintenance"
        or core.calendar.closed_reason(utc_now()) is not None
    ):
        return "closed"
    return "recovery" if core.mode == "recovery" else "open"


@routes.post("/sessions")
async def open_session(request: web.Request) -> web.Response:
    actor = await kiosk_actor(request)
    core = core_of(request)
    session = core.sessions.open(actor.actor_id)
    await core.audit.append(actor, "session_open", "ok", session=session.session_id)
    core.count("kiosk_sessions_total")
    return json_response(
        {
            "session_id": session.session_id,
            "nonce": session.nonce,
            "nonce_expires_in_s": core.settings.nonce_ttl_s,
            "service": service_status(core),
        },
        status=201,
    )


@routes.post("/sessions/{session_id}/authenticate")
async def authenticate(request: web.Request) -> web.Response:
    core, actor, session = await kiosk_session(request)
    data = await read_json(request, core.settings.max_body_bytes)
    nonce = field(data, "nonce", str)
    cert_der = _b64(data, "certificate", 8192)
    signature = _b64(data, "signature", 1024)
    pin = field(data, "pin", str)
    if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
        raise ApiError(400, ErrorCode.BAD_FIELD, "field 'pin' must be 4 digits", field="pin")
    if session.authenticated:
        raise ApiError(409, ErrorCode.SESSION_STATE, "this session is already authenticated")
    try:
        core.sessions.consume_nonce(session, nonce)
        cert, card = core.card_trust.check_certificate(cert_der, utc_now())
        core.card_trust.check_signature(
            cert, auth_message(actor.actor_id, session.session_id, nonce), signature
        )
    except ApiError as exc:
        await core.audit.append(actor, "authenticate", exc.code, session=session.session_id)
        raise
    reg = await core.db.fetchone(
        "SELECT registration_id, atena_no, pin_hash, status FROM registrations WHERE card_fingerprint = ?",
        (card.fingerprint,),
    )
    if reg is None or reg["status"] == "revoked":
        await core.audit.append(actor, "authenticate", ErrorCode.CARD_NOT_REGISTERED, card=card.serial)
        raise ApiError(
            403,
            ErrorCode.CARD_NOT_REGISTERED,
            "this card is not registered for kiosk use; please ask at the city hall",
        )
    subject = reg["atena_no"]
    if reg["status"] in ("locked", "suspended"):
        code = (
            ErrorCode.REGISTRATION_LOCKED if reg["status"] == "locked" else ErrorCode.REGISTRATION_SUSPENDED
        )
        await core.audit.append(actor, "authenticate", code, subject, card=card.serial)
        raise ApiError(
            403, code, f"kiosk use is {reg['status']} for this card; please ask at the city hall to unlock it"
        )
    result, tries_left = await check_pin(core, int(reg["registration_id"]), reg["pin_hash"], pin)
    await core.audit.append(actor, "authenticate", result, subject, card=card.serial)
    if result == "ok":
        session.atena_no = subject
        session.registration_id = int(reg["registration_id"])
        return json_response({"authenticated": True, "card_id": card.serial})
    if result == ErrorCode.PIN_WRONG:
        raise ApiError(401, ErrorCode.PIN_WRONG, f"wrong PIN; {tries_left} tries left", tries_left=tries_left)
    if result == ErrorCode.REGISTRATION_SUSPENDED:
        raise ApiError(403, result, "kiosk use is suspended for this card; please ask at the city hall")
    raise ApiError(
        403,
        ErrorCode.REGISTRATION_LOCKED,
        "too many wrong PINs: kiosk use is locked; please ask at the city hall to unlock it",
        tries_left=0,
    )


@routes.get("/sessions/{session_id}/menu")
async def menu(request: web.Request) -> web.Response:
    core, _actor, session = await kiosk_session(request)
    atena_no = await _authenticated(core, session)
    if not core.replica.ready:
        raise ApiError(503, ErrorCode.SERVICE_CLOSED, "the resident replica is not loaded yet")
    async with core.db.transaction(write=False) as tx:
        holder_facts = await load_facts(tx, atena_no, utc_now().astimezone(JST))
    items = kiosk_menu.menu_for(core, session.session_id, holder_facts)
    return json_response({"service": service_status(core), "items": items})


@routes.post("/sessions/{session_id}/certificates")
async def issue(request: web.Request) -> web.Response:
    core, actor, session = await kiosk_session(request)
    atena_no = await _authenticated(core, session)
    data = await read_json(request, core.settings.max_body_bytes)
    copies = field(data, "copies", int, required=False, default=1)
    req, member_ids = issuance.request_from_body(data)
    issued = await issuance.issue(
        core, actor, "kiosk", atena_no, req, copies, session_id=session.session_id, member_ids=member_ids
    )
    return json_response(issuance.issued_json(issued), status=201)


@routes.get("/sessions/{session_id}/certificates/{serial}/pdf")
async def fetch_pdf(request: web.Request) -> web.Response:
    core, actor, session = await kiosk_session(request)
    await _authenticated(core, session)
    serial = request.match_info["serial"]
    pdf = await documents.document_for_session(core, session.session_id, serial)
    await core.audit.append(actor, "fetch_pdf", "ok", session.atena_no, serial=serial)
    return web.Response(body=pdf, content_type="application/pdf")


@routes.post("/sessions/{session_id}/certificates/{serial}/print-report")
async def print_report(request: web.Request) -> web.Response:
    core, actor, session = await kiosk_session(request)
    await _authenticated(core, session)
    data = await read_json(request, core.settings.max_body_bytes)
    printed = field(data, "printed", bool)
    status = await documents.report_print(
        core, actor, session.session_id, request.match_info["serial"], printed
    )
    return json_response({"serial": request.match_info["serial"], "status": status})


@routes.delete("/sessions/{session_id}")
async def end_session(request: web.Request) -> web.Response:
    core, actor, session = await kiosk_session(request)
    core.sessions.end(session)
    voided = await documents.void_unprinted(
        core, actor, "session ended before printing", session_id=session.session_id
    )
    await core.audit.append(
        actor, "session_end", "ok", session.atena_no, session=session.session_id, voided=voided
    )
    return json_response({"ended": True})


def make_kiosk_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    return app
