"""The clerk sub-application (``/clerk/api``): staff login, card + PIN registration, unlock, suspend."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any, TypeVar

from aiohttp import web

from issuance_server.access import ANY_STAFF, PUBLIC, actor_of, allow, staff
from issuance_server.api_errors import ApiError, field, json_response, read_json
from issuance_server.audit.trail import Actor
from issuance_server.core import ServerCore, core_of
from issuance_server.issuing import documents, issuance
from issuance_server.registrations import card_registration, phone_links
from issuance_server.server_tls import client_address
from issuance_server.staff import admin as staff_admin
from issuance_server.staff.auth import (
    STAFF_ROLES,
    STAFF_TOKEN,
    SecondFactor,
    check_staff_id,
    check_terminal,
    confirm_enrolment,
    login,
    logout_session,
    reauthenticate,
    start_enrolment,
)
from issuance_server.staff.login_throttle import THROTTLE, LoginThrottle, is_loopback
from issuance_server.storage.engine import Tx
from registration import counter, records_api
from wire.kiosk_api import Channel
from wire.roles import ROLES

routes = web.RouteTableDef()
log = logging.getLogger("konbini.staff")
T = TypeVar("T")
CHALLENGES: web.AppKey[card_registration.Challenges] = web.AppKey("challenges", card_registration.Challenges)


def _atena_no(data: dict[str, object]) -> str:
    value = field(data, "atena_no", str)
    if not (value.isascii() and value.isdigit() and 1 <= len(value) <= 15):
        raise ApiError(400, "bad_field", "atena_no must be digits", field="atena_no")
    return value


async def _credentials(request: web.Request) -> tuple[ServerCore, dict[str, Any], Actor, str]:
    """A login (or enrolment) request: the core, its body, who it says it is (checked staff id and terminal
    name) and the password."""
    core = core_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    try:
        staff_id = check_staff_id(field(data, "staff_id", str))
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc), field="staff_id") from None
    try:
        terminal = check_terminal(field(data, "terminal", str, required=False, default="unnamed"))
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc), field="terminal") from None
    actor = Actor("staff", staff_id, terminal, client_address(request, core.secrets.proxy_secret))
    return core, data, actor, field(data, "password", str)


async def _throttled(request: web.Request, actor: Actor, attempt: Callable[[], Awaitable[T]]) -> T:
    """A password attempt, unless its address has failed too often lately (see login_throttle; the server
    machine itself, loopback, is not throttled)."""
    core, throttle = core_of(request), request.app[THROTTLE]
    if is_loopback(actor.peer):
        return await attempt()
    limits = (core.settings.staff_source_max_failures, core.settings.staff_source_window_s)
    mark = throttle.attempt(actor.peer, *limits)  # counted before it is checked: parallel ones too
    try:
        answer = await attempt()
    except ApiError as exc:
        if exc.code != "login_failed":
            throttle.succeeded(actor.peer, mark)  # not a wrong password or code: it does not count
        elif throttle.reaches(actor.peer, *limits):
            log.warning("failed staff logins from %s: the address waits %d s", actor.peer, limits[1])
            await core.audit.append(actor, "login_throttle", "throttled", None, failures=limits[0])
        raise
    throttle.succeeded(actor.peer, mark)
    return answer


@routes.post("/api/login")
@allow(PUBLIC)
async def staff_login(request: web.Request) -> web.Response:
    core, data, actor, password = await _credentials(request)
    second = SecondFactor(
        totp_code=field(data, "totp_code", str, required=False, default=""),
        recovery_code=field(data, "recovery_code", str, required=False, default=""),
    )
    if second.totp_code and second.recovery_code:
        message = "give totp_code (from your authenticator) or one recovery_code, not both"
        raise ApiError(400, "bad_field", message, field="totp_code")
    return json_response(
        {"token": await _throttled(request, actor, lambda: login(core, actor, password, second))}
    )


@routes.post("/api/totp/enrol")
@allow(PUBLIC)
async def totp_enrol(request: web.Request) -> web.Response:
    core, _, actor, password = await _credentials(request)
    return json_response(await _throttled(request, actor, lambda: start_enrolment(core, actor, password)))


@routes.post("/api/totp/confirm")
@allow(PUBLIC)
async def totp_confirm(request: web.Request) -> web.Response:
    core, data, actor, password = await _credentials(request)
    code = field(data, "totp_code", str)
    return json_response(
        await _throttled(request, actor, lambda: confirm_enrolment(core, actor, password, code))
    )


@routes.get("/api/me")
@allow(ANY_STAFF)
async def me(request: web.Request) -> web.Response:
    """Who this session belongs to and their roles (a client checks a kept session with it)."""
    actor = actor_of(request)
    return json_response(
        {"staff_id": actor.actor_id, "roles": [r for r in ROLES if r in request[STAFF_ROLES]]}
    )


@routes.post("/api/reauth")
@allow(ANY_STAFF)
async def reauth(request: web.Request) -> web.Response:
    """The session's staff member types their password again (a locked desk screen)."""
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    await reauthenticate(core, actor, field(data, "password", str))
    return json_response({"reauthenticated": True})


@routes.post("/api/logout")
@allow(ANY_STAFF)
async def logout(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    await logout_session(core, actor, request[STAFF_TOKEN])
    return json_response({"logged_out": True})


@routes.post("/api/registrations/challenge")
@allow(staff("registrar"))
async def registration_challenge(request: web.Request) -> web.Response:
    """A one-time challenge for the next registration: the card's keys sign it at the desk."""
    challenge = request.app[CHALLENGES].issue(actor_of(request).actor_id)
    return json_response(
        {"challenge": base64.b64encode(challenge).decode(), "expires_in_s": card_registration.CHALLENGE_TTL_S}
    )


@routes.post("/api/registrations")
@allow(staff("registrar"))
async def register(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    identity = field(data, "identity", dict)
    proof = card_registration.CardProof(
        certificate=_base64(field(data, "certificate", str), "certificate"),
        card_signature=_base64(field(data, "card_signature", str), "card_signature"),
        basic_four=_base64(field(identity, "basic_four", str), "identity"),
        identity_signed=_base64(field(identity, "signature", str), "identity"),
        identity_signature=_base64(field(identity, "challenge_signature", str), "identity"),
    )
    atena_no, pin = _atena_no(data), field(data, "pin", str)
    challenge = _base64(field(data, "challenge", str), "challenge")
    request.app[CHALLENGES].take(challenge, actor.actor_id)
    result = await card_registration.register_card(core, actor, atena_no, pin, proof, challenge)
    return json_response(result, status=201)


@routes.post("/api/registrations/phones")
@allow(staff("registrar"))
async def link_phone(request: web.Request) -> web.Response:
    """Link the phone on the desk reader to the resident whose registered card (and its PIN) came first."""
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    proof = phone_links.LinkProof(
        card_certificate=_base64(field(data, "card_certificate", str), "card_certificate"),
        card_signature=_base64(field(data, "card_signature", str), "card_signature"),
        phone_certificate=_base64(field(data, "phone_certificate", str), "phone_certificate"),
        phone_signature=_base64(field(data, "phone_signature", str), "phone_signature"),
    )
    atena_no = _atena_no(data)
    card_pin, phone_pin = field(data, "card_pin", str), field(data, "phone_pin", str)
    challenge = _base64(field(data, "challenge", str), "challenge")
    request.app[CHALLENGES].take(challenge, actor.actor_id)
    result = await phone_links.link_at_desk(core, actor, atena_no, card_pin, phone_pin, proof, challenge)
    return json_response(result, status=201)


def _base64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_field", f"{name} must be base64", field=name) from None


@routes.post("/api/registrations/{action:unlock|suspend|resume|revoke}")
@allow(staff("registrar"))
async def change_status(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    reason = field(data, "reason", str, required=False, default="")
    one = field(data, "registration_id", int, required=False, default=None)
    if one is not None and not 1 <= one < 2**63:
        raise ApiError(
            400, "bad_field", "registration_id must be a registration's number", field="registration_id"
        )
    changed = await card_registration.set_status(
        core, actor, _atena_no(data), request.match_info["action"], reason, one
    )
    return json_response({"changed": changed})


@routes.get("/api/registrations")
@allow(staff("registrar"))
async def list_registrations(request: web.Request) -> web.Response:
    core, _actor = core_of(request), actor_of(request)
    atena_no = _atena_no(dict(request.query))
    return json_response({"registrations": await card_registration.registrations_of(core, atena_no)})


@routes.get("/api/residents")
@allow(staff("counter", "registrar"))
async def search(request: web.Request) -> web.Response:
    """Residents by name (``name``; ``kana`` is the same, kept for older clients), 宛名番号 or birth date;
    for the counter and for registrars, who find the resident whose card they register."""
    core, actor = core_of(request), actor_of(request)
    q = request.query
    if "atena_no" in q and not (
        q["atena_no"].isascii() and q["atena_no"].isdigit() and 1 <= len(q["atena_no"]) <= 15
    ):  # given, it is 1-15 digits (an empty one is not "any")
        raise ApiError(400, "bad_field", "atena_no must be 1-15 digits", field="atena_no")
    if "birth_date" in q:
        try:
            date.fromisoformat(q["birth_date"])
        except ValueError:
            raise ApiError(
                400, "bad_field", "birth_date must be a date, YYYY-MM-DD", field="birth_date"
            ) from None
    name = q.get("name") or q.get("kana") or ""
    if len(name) > 100:
        raise ApiError(400, "bad_field", "name is at most 100 characters", field="name")
    found = await counter.search_residents(
        core, name=name, atena_no=q.get("atena_no", ""), birth_date=q.get("birth_date", "")
    )
    by = sorted(
        k
        for k, v in (("name", name), ("atena_no", q.get("atena_no")), ("birth_date", q.get("birth_date")))
        if v
    )
    await core.audit.append(
        actor, "resident_search", "ok", None, by=by, found=[r["atena_no"] for r in found]
    )  # what was searched by (not the name typed) and whom it showed, for the monthly review
    return json_response({"residents": found})


@routes.get("/api/issuances")
@allow(staff("counter"))
async def list_issuances(request: web.Request) -> web.Response:
    """A resident's certificates (as holder), newest first: serial, kind, channel, status, fee, time."""
    core = core_of(request)
    atena_no = _atena_no(dict(request.query))
    return json_response({"issuances": await issuance.issuances_of(core, atena_no)})


@routes.get("/api/residents/{atena_no}/mynumber")
@allow(staff("mynumber"))
async def unmask_mynumber(request: web.Request) -> web.Response:
    """One resident's 個人番号, for a reason given each time (audited: who, whose, why; never the number)."""
    core, actor = core_of(request), actor_of(request)
    atena_no = _atena_no(dict(request.match_info))
    reason = request.query.get("reason", "").strip()
    if not reason or len(reason) > 200:
        raise ApiError(
            400, "bad_field", "say why you need the 個人番号 (reason, 1-200 characters)", field="reason"
        )
    number = await counter.kojin_bango_of(core, atena_no)
    await core.audit.append(actor, "mynumber_view", "ok", atena_no, reason=reason)
    return json_response({"atena_no": atena_no, "kojin_bango": number})


@routes.post("/api/counter/certificates")
@allow(staff("counter"))
async def counter_issue(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    counter.require_recovery(core)
    data = await read_json(request, core.settings.max_body_bytes)
    atena_no = _atena_no(data)
    req, members = issuance.request_from_body(data)
    req = dataclasses.replace(req, members=tuple(members))
    copies = issuance.copies_of(data)
    issued = await issuance.issue(
        core,
        actor,
        Channel.COUNTER,
        atena_no,
        req,
        copies,
        requester_sha256=bytes.fromhex(request[STAFF_TOKEN]),
    )  # the desk's print guard checks its sheets against its own session (wire.print_guard)
    return json_response(issuance.issued_json(issued), status=201)


@routes.get("/api/counter/certificates/{serial}/pdf")
@allow(staff("counter"))
async def counter_pdf(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    serial = request.match_info["serial"]

    def fetch(tx: Tx) -> bytes:
        pdf = documents.document_at_counter(tx, actor, serial)
        core.audit.record(tx, actor, "fetch_pdf", "ok", None, serial=serial, channel=Channel.COUNTER)
        return pdf

    pdf = await core.db.write(fetch)
    return web.Response(body=pdf, content_type="application/pdf")


@routes.post("/api/counter/certificates/{serial}/print-report")
@allow(staff("counter"))
async def counter_print_report(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    printed, guard = documents.print_report_of(await read_json(request, core.settings.max_body_bytes))
    serial = request.match_info["serial"]
    status, _ = await core.db.write(
        lambda tx: documents.report_print(tx, core.audit, actor, None, serial, printed, guard)
    )
    return json_response({"serial": serial, "status": status})


def make_clerk_app() -> web.Application:
    app = web.Application()
    app[THROTTLE] = LoginThrottle()
    app[CHALLENGES] = card_registration.Challenges()
    app.add_routes(routes)
    app.add_routes(staff_admin.routes)
    app.add_routes(records_api.routes)
    return app
