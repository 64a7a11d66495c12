"""The clerk's pages (server-rendered, jinja2 with autoescape, one small script for the idle lock).

Security, one middleware each: the Host must be this app's own address (a DNS-rebinding page names
another), a form must come from this origin (``Origin``) and carry its session's CSRF token (before login,
a double-submit token), and every answer carries a strict CSP, ``no-store`` and ``nosniff``. The session
cookie is HttpOnly and SameSite=Strict; the server's staff token stays in this process. Nothing personal
goes into a URL (searches are posted) and the app writes no access log.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hmac
import io
import secrets
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import qrcode
import qrcode.image.svg
from aiohttp import web

from devices.card.errors import CardError
from devices.card.jpki import JpkiCard, card_id_from_certificate
from devices.printing import FolderPrinter, Printer
from registration.desk.customer import PinEntry
from registration.desk.server_api import ServerApi
from registration.desk.sessions import DeskSession, DeskSessions, PendingEnrolment
from wire.card_identity import challenge_digest, registration_body
from wire.clock import jst_now
from wire.http_json import HttpError
from wire.roles import ROLES

API: web.AppKey[ServerApi] = web.AppKey("api", ServerApi)
SESSIONS: web.AppKey[DeskSessions] = web.AppKey("sessions", DeskSessions)
ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("origins", frozenset)
TERMINAL: web.AppKey[str] = web.AppKey("terminal", str)
ENTRY: web.AppKey[PinEntry] = web.AppKey("desk_pin_entry", PinEntry)
READER: web.AppKey[str | None] = web.AppKey("reader")
PIN_WAIT_S: web.AppKey[float] = web.AppKey("pin_wait_s", float)
PRINTER: web.AppKey[Printer] = web.AppKey("printer")
SESSION: web.RequestKey[DeskSession] = web.RequestKey("desk_session", DeskSession)
COOKIE = "desk_session"
LOGIN_COOKIE = "desk_login"
ENROL_COOKIE = "desk_enrol"
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make a form's Origin "null"
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
}
PUBLIC_PATHS = frozenset({"/login", "/enrol/confirm", "/static/desk.css", "/static/desk.js", "/favicon.ico"})
STATUS_ACTIONS = {
    "unlock": "ロック解除 unlock",
    "suspend": "一時停止 suspend",
    "resume": "停止解除 resume",
    "revoke": "失効（カード紛失） revoke: lost card",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
routes = web.RouteTableDef()


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("registration.desk", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )


TEMPLATES = _environment()


def page(request: web.Request, name: str, status: int = 200, **values: Any) -> web.Response:
    session = request.get(SESSION)
    values.setdefault("error", "")
    html = TEMPLATES.get_template(name).render(
        session=session, csrf=session.csrf if session else "", roles=session.roles if session else frozenset(),
        idle_lock_s=int(request.app[SESSIONS].idle_lock_s), **values,
    )  # fmt: skip
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def _refusal(status: int, message: str) -> web.Response:
    html = TEMPLATES.get_template("refused.html").render(message=message)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


@web.middleware
async def local_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only this machine's browser, on this app's own address, may use it; forms only from this origin."""
    origins = request.app[ORIGINS]
    if f"http://{request.host}" not in origins:
        return _refusal(403, "this desk app serves its own address only")
    if request.method == "POST" and request.headers.get("Origin") not in origins:
        return _refusal(403, "forms must come from the desk's own pages")
    response = await handler(request)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@web.middleware
async def server_trouble(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The server unreachable or answering an error a page did not expect: said on a page, not a 500."""
    try:
        return await handler(request)
    except HttpError as exc:
        status = 502 if exc.status in (0,) or exc.status >= 500 else exc.status
        return _refusal(status, f"the issuance server answered: {_error_text(exc)}")


@web.middleware
async def logged_in(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Pages need a desk session; a locked one shows the lock screen; a form needs the session's token."""
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    session = request.app[SESSIONS].get(request.cookies.get(COOKIE))
    if session is None:
        raise web.HTTPSeeOther("/login")
    request[SESSION] = session
    if request.method == "POST":
        form = await request.post()
        if not hmac.compare_digest(str(form.get("csrf", "")), session.csrf):
            return _refusal(
                403, "this form is out of date (its CSRF token does not match): open the page again"
            )
    if session.locked and request.path not in ("/lock", "/logout"):
        raise web.HTTPSeeOther("/lock")
    return await handler(request)


async def _call(request: web.Request, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """The server as the logged-in staff member; a session the server ended sends the clerk to log in."""
    session = request[SESSION]
    try:
        return await request.app[API].call(method, path, token=session.token, **kw)
    except HttpError as exc:
        if exc.status == 401 and exc.code in ("staff_unauthorized", "staff_session_expired"):
            request.app[SESSIONS].end(session.sid)
            raise web.HTTPSeeOther("/login") from None
        raise


def _page_status(exc: HttpError) -> int:
    """A page's status after the server refused: the clerk's input (400), or the server's trouble (502)."""
    return 400 if 0 < exc.status < 500 else 502


def _error_text(exc: HttpError) -> str:
    return f"{exc.message} ({exc.code})"


# -- logging in ------------------------------------------------------------------------------------


def _login_page(request: web.Request, error: str = "", status: int = 200, staff_id: str = "") -> web.Response:
    # one token per browser until it logs in (a second tab or a favicon's redirect must not void the first)
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(32)
    response = page(request, "login.html", status, login_csrf=token, error=error, staff_id=staff_id)
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="Strict", path="/")
    return response


def _double_submit_ok(request: web.Request, form: Any, cookie: str) -> bool:
    sent = str(form.get("csrf", ""))
    return bool(sent) and hmac.compare_digest(sent, request.cookies.get(cookie, ""))


@routes.get("/login")
async def login_form(request: web.Request) -> web.Response:
    return _login_page(request)


def _qr_svg(uri: str) -> str:
    image = qrcode.make(uri, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    out = io.BytesIO()
    image.save(out)
    return "data:image/svg+xml;base64," + base64.b64encode(out.getvalue()).decode()


async def _open_session(request: web.Request, staff_id: str, token: str) -> web.Response:
    api = request.app[API]
    me = await api.call("GET", "/clerk/api/me", token=token)
    session = request.app[SESSIONS].open(staff_id, token, frozenset(me["roles"]))
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict", path="/")
    response.del_cookie(LOGIN_COOKIE, path="/")
    raise response


@routes.post("/login")
async def login(request: web.Request) -> web.Response:
    form = await request.post()
    if not _double_submit_ok(request, form, LOGIN_COOKIE):
        return _login_page(request, "the login form was out of date; please try again", 403)
    staff_id, password = str(form.get("staff_id", "")).strip(), str(form.get("password", ""))
    code = str(form.get("code", "")).strip()
    body = {"staff_id": staff_id, "password": password, "terminal": request.app[TERMINAL]}
    if code:  # empty at a first login: the server then opens the enrolment
        body |= {"totp_code": code} if code.isdigit() else {"recovery_code": code}
    api = request.app[API]
    try:
        token = (await api.call("POST", "/clerk/api/login", body=body))["token"]
    except HttpError as exc:
        if exc.code != "totp_enrolment_required":
            return _login_page(request, _error_text(exc), 401 if exc.status == 401 else 400, staff_id)
        started = await api.call(
            "POST", "/clerk/api/totp/enrol", body={k: body[k] for k in ("staff_id", "password", "terminal")}
        )
        pending = PendingEnrolment(
            staff_id, password, request.app[TERMINAL], _qr_svg(started["otpauth_uri"]), started["secret"]
        )
        key = request.app[SESSIONS].start_enrolment(pending)
        response = page(request, "enrol.html", pending=pending, enrol_csrf=key, error="")
        response.set_cookie(ENROL_COOKIE, key, httponly=True, samesite="Strict", path="/")
        return response
    return await _open_session(request, staff_id, token)


@routes.post("/enrol/confirm")
async def enrol_confirm(request: web.Request) -> web.Response:
    form = await request.post()
    sessions = request.app[SESSIONS]
    key = request.cookies.get(ENROL_COOKIE, "")
    pending = sessions.enrolment(key)
    if pending is None or not _double_submit_ok(request, form, ENROL_COOKIE):
        return _login_page(request, "the enrolment has expired; log in again to start it again", 403)
    body = {"staff_id": pending.staff_id, "password": pending.password, "terminal": pending.terminal,
            "totp_code": str(form.get("code", "")).strip()}  # fmt: skip
    try:
        answer = await request.app[API].call("POST", "/clerk/api/totp/confirm", body=body)
    except HttpError as exc:
        return page(request, "enrol.html", 400, pending=pending, enrol_csrf=key, error=_error_text(exc))
    sessions.finish_enrolment(key)
    me = await request.app[API].call("GET", "/clerk/api/me", token=answer["token"])
    session = sessions.open(pending.staff_id, answer["token"], frozenset(me["roles"]))
    request[SESSION] = session
    response = page(request, "recovery_codes.html", codes=answer["recovery_codes"])
    response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict", path="/")
    response.del_cookie(ENROL_COOKIE, path="/")
    return response


@routes.get("/lock")
async def lock_screen(request: web.Request) -> web.Response:
    request[SESSION].locked = True
    return page(request, "lock.html", error="")


@routes.post("/lock")
async def unlock_screen(request: web.Request) -> web.Response:
    session = request[SESSION]
    form = await request.post()
    try:
        await request.app[API].call(
            "POST", "/clerk/api/reauth", token=session.token, body={"password": str(form.get("password", ""))}
        )
    except HttpError as exc:
        if exc.status == 401 and exc.code in ("staff_unauthorized", "staff_session_expired"):
            request.app[SESSIONS].end(session.sid)
            raise web.HTTPSeeOther("/login") from None
        return page(request, "lock.html", 401, error=_error_text(exc))
    session.locked = False
    raise web.HTTPSeeOther("/")


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    session = request[SESSION]
    with contextlib.suppress(HttpError):  # the server may have ended it already
        await request.app[API].call("POST", "/clerk/api/logout", token=session.token)
    request.app[SESSIONS].end(session.sid)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response


# -- the clerk's tasks --------------------------------------------------------------------------------


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    return page(request, "search.html", results=None, query={}, error="")


@routes.post("/search")
async def search(request: web.Request) -> web.Response:
    form = await request.post()
    query = {k: str(form.get(k, "")).strip() for k in ("kana", "atena_no", "birth_date")}
    try:
        found = await _call(
            request, "GET", "/clerk/api/residents", query={k: v for k, v in query.items() if v}
        )
    except HttpError as exc:
        return page(request, "search.html", 400, results=None, query=query, error=_error_text(exc))
    return page(request, "search.html", results=found["residents"], query=query, error="")


async def _resident(request: web.Request, atena_no: str) -> dict[str, Any]:
    found = await _call(request, "GET", "/clerk/api/residents", query={"atena_no": atena_no})
    if not found["residents"]:
        raise web.HTTPNotFound(text="no such resident")
    return dict(found["residents"][0])


async def _record_page(request: web.Request, atena_no: str, status: int = 200, **extra: Any) -> web.Response:
    resident = await _resident(request, atena_no)
    registrations: list[dict[str, Any]] | None = None
    if "registrar" in request[SESSION].roles:
        registrations = (
            await _call(request, "GET", "/clerk/api/registrations", query={"atena_no": atena_no})
        )["registrations"]
    issued: list[dict[str, Any]] | None = None
    if "counter" in request[SESSION].roles:
        issued = (await _call(request, "GET", "/clerk/api/issuances", query={"atena_no": atena_no}))[
            "issuances"
        ]
    values: dict[str, Any] = {"mynumber": None, "error": "", "notice": ""} | extra
    return page(
        request, "resident.html", status, resident=resident, registrations=registrations, issuances=issued,
        actions=STATUS_ACTIONS, kinds=KINDS, **values,
    )  # fmt: skip


def _atena_no(request: web.Request) -> str:
    value = request.match_info["atena_no"]
    if not (value.isascii() and value.isdigit() and len(value) <= 15):
        raise web.HTTPNotFound(text="no such resident")
    return value


@routes.get("/residents/{atena_no}")
async def resident(request: web.Request) -> web.Response:
    return await _record_page(request, _atena_no(request))


@routes.post("/residents/{atena_no}/mynumber")
async def unmask(request: web.Request) -> web.Response:
    """The 個人番号 shown in this answer only (the page is not cached), for the reason typed."""
    atena_no = _atena_no(request)
    form = await request.post()
    try:
        shown = await _call(
            request,
            "GET",
            f"/clerk/api/residents/{atena_no}/mynumber",
            query={"reason": str(form.get("reason", ""))},
        )
    except HttpError as exc:
        return await _record_page(request, atena_no, 400, error=_error_text(exc))
    return await _record_page(request, atena_no, mynumber=shown["kojin_bango"])


@routes.post("/residents/{atena_no}/status")
async def change_status(request: web.Request) -> web.Response:
    atena_no = _atena_no(request)
    form = await request.post()
    action = str(form.get("action", ""))
    if action not in STATUS_ACTIONS:
        return await _record_page(request, atena_no, 400, error="choose unlock, suspend, resume or revoke")
    body = {"atena_no": atena_no, "reason": str(form.get("reason", ""))}
    if action == "unlock":  # the resident is here with the card: it must be the card registered to them
        refusal = await _card_refusal(request, atena_no)
        if refusal:
            return await _record_page(request, atena_no, 400, error=refusal)
    try:
        await _call(request, "POST", f"/clerk/api/registrations/{action}", body=body)
    except HttpError as exc:
        return await _record_page(request, atena_no, _page_status(exc), error=_error_text(exc))
    return await _record_page(request, atena_no, notice=f"{STATUS_ACTIONS[action]}: done")


async def _card_refusal(request: web.Request, atena_no: str) -> str:
    """Why the card on the desk reader may not unlock this resident's kiosk use ("" when it may)."""
    try:
        card_id = card_id_from_certificate(await asyncio.to_thread(_read_certificate, request.app[READER]))
    except CardError as exc:
        return f"put the resident's card on the desk reader to unlock: {exc} ({exc.code})"
    listed = await _call(request, "GET", "/clerk/api/registrations", query={"atena_no": atena_no})
    locked = [r["card_serial"] for r in listed["registrations"] if r["status"] == "locked"]
    if card_id not in locked:
        return "the card on the desk reader is not this resident's locked card (card_mismatch)"
    return ""


def _read_certificate(reader: str | None) -> bytes:
    with JpkiCard.connect(reader, timeout_s=10.0) as card:
        return card.read_auth_certificate()


def _check_on_card(
    reader: str | None, pin: str, identity_pin: str, challenge: bytes
) -> tuple[bytes, tuple[bytes, bytes, bytes]]:
    """The new PIN verified on the card and the challenge signed with its authentication key, then the
    card's identity files read (and the challenge signed) with its identity PIN."""
    with JpkiCard.connect(reader, timeout_s=10.0) as card:
        card.verify_pin(pin)
        signature = card.sign_digest(challenge_digest(challenge))
        return signature, card.read_identity(identity_pin, challenge)


@routes.post("/residents/{atena_no}/register")
async def register_card(request: web.Request) -> web.Response:
    """The card on the desk reader, the PIN typed twice by the resident on the customer display, verified
    on the card, and the card's own identity read with its identity PIN (typed there too), then registered
    with the server, which checks that identity. The PINs never reach this page."""
    atena_no = _atena_no(request)
    entry, reader = request.app[ENTRY], request.app[READER]
    try:
        certificate = await asyncio.to_thread(_read_certificate, reader)
    except CardError as exc:
        return await _record_page(request, atena_no, 400, error=f"{exc} ({exc.code})")
    try:
        pin, identity_pin = await asyncio.wait_for(entry.begin(), request.app[PIN_WAIT_S])
    except (TimeoutError, asyncio.CancelledError):
        entry.cancel()
        return await _record_page(
            request, atena_no, 408, error="the PIN was not entered in time; start again"
        )
    body: dict[str, Any] = {}
    try:
        asked = await _call(request, "POST", "/clerk/api/registrations/challenge")
        challenge = base64.b64decode(asked["challenge"])
        signature, identity = await asyncio.to_thread(_check_on_card, reader, pin, identity_pin, challenge)
        body = registration_body(atena_no, pin, challenge, certificate, signature, identity)
        registered = await _call(request, "POST", "/clerk/api/registrations", body=body)
    except CardError as exc:
        entry.finish(False)
        return await _record_page(request, atena_no, 400, error=f"{exc} ({exc.code})")
    except HttpError as exc:
        entry.finish(False)
        return await _record_page(request, atena_no, _page_status(exc), error=_error_text(exc))
    finally:
        del body, pin, identity_pin
    entry.finish(True)
    return await _record_page(
        request, atena_no, notice=f"カードを登録しました card {registered['card_id']} registered"
    )


KINDS = {  # Kagoshima City's names, as the kiosk's Japanese catalogue (kiosk/messages/ja.po) has them
    "juminhyo": "住民票の写し", "inkan": "印鑑登録証明書", "tax_income": "所得額証明書",
    "tax_status": "課税額（非課税）証明書", "tax_income_assessment": "所得額・課税額証明書",
    "tax_payment": "市・県民税納税証明書",
}  # fmt: skip


@routes.post("/residents/{atena_no}/issue")
async def counter_issue(request: web.Request) -> web.Response:
    """Counter issuance (recovery mode: the server refuses it otherwise), printed on the desk's printer;
    each copy reported printed or not (a copy that did not print is voided and refunded by the server)."""
    atena_no = _atena_no(request)
    form = await request.post()
    try:
        copies = int(str(form.get("copies", "1")))
    except ValueError:
        copies = 0
    body = {"atena_no": atena_no, "kind": str(form.get("kind", "")), "copies": copies}
    try:
        issued = await _call(request, "POST", "/clerk/api/counter/certificates", body=body)
    except HttpError as exc:
        return await _record_page(request, atena_no, _page_status(exc), error=_error_text(exc))
    done: list[str] = []
    failed: list[str] = []
    for cert in issued["certificates"]:
        serial = cert["serial"]
        pdf = await request.app[API].fetch(
            f"/clerk/api/counter/certificates/{serial}/pdf", request[SESSION].token
        )
        result = await request.app[PRINTER].print_pdf(pdf, serial)
        await _call(
            request, "POST", f"/clerk/api/counter/certificates/{serial}/print-report",
            body={"printed": result.printed},
        )  # fmt: skip
        (done if result.printed else failed).append(
            f"{serial}" + ("" if result.printed else f" ({result.code})")
        )
    if failed:
        message = f"not printed, voided and refunded: {', '.join(failed)}" + (
            f"; printed: {', '.join(done)}" if done else ""
        )
        return await _record_page(request, atena_no, 502, error=message)
    return await _record_page(request, atena_no, notice=f"交付しました printed: {', '.join(done)}")


# -- administration and review -----------------------------------------------------------------------

ADMIN_ACTIONS = {"unlock": "ロック解除 unlock", "totp-reset": "二要素の再登録 reset second factor",
                 "deactivate": "利用停止 deactivate", "activate": "利用再開 activate"}  # fmt: skip


def _needs(request: web.Request, role: str) -> None:
    if role not in request[SESSION].roles:
        raise web.HTTPForbidden(text=f"this page needs the {role} role")


async def _staff_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    listed = await _call(request, "GET", "/clerk/api/admin/staff")
    values: dict[str, Any] = {"notice": "", "error": ""} | extra
    return page(
        request, "staff.html", status, staff=listed["staff"], all_roles=ROLES, actions=ADMIN_ACTIONS, **values
    )


@routes.get("/admin/staff")
async def staff_list(request: web.Request) -> web.Response:
    _needs(request, "admin")
    return await _staff_page(request)


@routes.post("/admin/staff")
async def staff_create(request: web.Request) -> web.Response:
    _needs(request, "admin")
    form = await request.post()
    body = {"staff_id": str(form.get("staff_id", "")).strip(), "display_name": str(form.get("display_name", "")),
            "roles": [str(r) for r in form.getall("roles", [])]}  # fmt: skip
    try:
        await _call(request, "POST", "/clerk/api/admin/staff", body=body)
    except HttpError as exc:
        return await _staff_page(request, _page_status(exc), error=_error_text(exc))
    return await _staff_page(
        request, notice=f"{body['staff_id']}: asked for; another administrator approves it and sets the temporary"
        " password"
    )  # fmt: skip


@routes.post("/admin/staff/{staff_id}")
async def staff_change(request: web.Request) -> web.Response:
    _needs(request, "admin")
    staff_id = request.match_info["staff_id"]
    form = await request.post()
    action = str(form.get("action", ""))
    try:
        if action == "roles":
            body = {"roles": [str(r) for r in form.getall("roles", [])]}
            await _call(request, "PATCH", f"/clerk/api/admin/staff/{staff_id}", body=body)
        elif action in ("deactivate", "activate"):
            await _call(
                request, "PATCH", f"/clerk/api/admin/staff/{staff_id}", body={"active": action == "activate"}
            )
        elif action in ("unlock", "totp-reset", "reject"):
            await _call(request, "POST", f"/clerk/api/admin/staff/{staff_id}/{action}")
        elif action == "approve":
            answer = {"password": str(form["password"])} if "password" in form else {}
            await _call(request, "POST", f"/clerk/api/admin/staff/{staff_id}/approve", body=answer)
        else:
            return await _staff_page(request, 400, error="choose an action")
    except HttpError as exc:
        return await _staff_page(request, _page_status(exc), error=_error_text(exc))
    done = {"approve": "承認しました approved", "reject": "取り下げました rejected",
            "roles": "役割を変更（追加は承認待ち） roles changed (added ones wait for approval)"}  # fmt: skip
    return await _staff_page(request, notice=f"{staff_id}: {ADMIN_ACTIONS.get(action) or done[action]}")


async def _ops_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    state = await _call(request, "GET", "/ops/api/status")
    values: dict[str, Any] = {"notice": "", "error": ""} | extra
    return page(request, "ops.html", status, state=state, **values)


@routes.get("/ops")
async def ops_status(request: web.Request) -> web.Response:
    """Ops staff, as themselves: the mode, the registry link, the replica; switch the mode by hand."""
    _needs(request, "ops")
    return await _ops_page(request)


@routes.post("/ops/mode")
async def ops_mode(request: web.Request) -> web.Response:
    _needs(request, "ops")
    form = await request.post()
    body = {"mode": str(form.get("mode", "")), "reason": str(form.get("reason", ""))}
    try:
        await _call(request, "POST", "/ops/api/mode", body=body)
    except HttpError as exc:
        return await _ops_page(request, _page_status(exc), error=_error_text(exc))
    return await _ops_page(request, notice=f"mode {body['mode']}: done")


async def _purges_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    listed = await _call(request, "GET", "/clerk/api/purges")
    values: dict[str, Any] = {"notice": "", "error": ""} | extra
    return page(request, "purges.html", status, purges=listed["purges"], **values)


@routes.get("/purges")
async def purges(request: web.Request) -> web.Response:
    if not {"ops", "admin"} & request[SESSION].roles:
        raise web.HTTPForbidden(text="this page needs the ops or admin role")
    return await _purges_page(request)


@routes.post("/purges")
async def request_purge(request: web.Request) -> web.Response:
    """One staff member asks; nothing is erased until an administrator other than them approves."""
    _needs(request, "ops")
    form = await request.post()
    body = {"before": str(form.get("before", "")), "reason": str(form.get("reason", ""))}
    try:
        made = await _call(request, "POST", "/clerk/api/purges", body=body)
    except HttpError as exc:
        return await _purges_page(request, _page_status(exc), error=_error_text(exc))
    return await _purges_page(
        request, notice=f"purge {made['purge_id']} requested: an administrator approves it"
    )


@routes.post("/purges/{purge_id:[0-9]{1,9}}/approve")
async def approve_purge(request: web.Request) -> web.Response:
    _needs(request, "admin")
    purge_id = request.match_info["purge_id"]
    try:
        done = await _call(request, "POST", f"/clerk/api/purges/{purge_id}/approve")
    except HttpError as exc:
        return await _purges_page(request, _page_status(exc), error=_error_text(exc))
    erased = done["erased"]
    notice = f"purge {purge_id} done: {erased['issuances']} issuance records, {erased['audit_rows_erased']} audit rows"
    return await _purges_page(request, notice=notice)


@routes.get("/review")
async def review(request: web.Request) -> web.Response:
    _needs(request, "auditor")
    month = request.query.get("month") or f"{jst_now():%Y-%m}"
    try:
        figures = await _call(request, "GET", "/ops/api/audit/review", query={"month": month})
    except HttpError as exc:
        return page(request, "review.html", 400, month=month, figures=None, error=_error_text(exc), notice="")
    return page(request, "review.html", month=month, figures=figures, notice="")


@routes.get("/review.pdf")
async def review_pdf(request: web.Request) -> web.Response:
    _needs(request, "auditor")
    month = request.query.get("month", "")
    pdf = await request.app[API].fetch(
        "/ops/api/audit/review", request[SESSION].token, query={"month": month, "format": "pdf"}
    )
    disposition = f'attachment; filename="audit-review-{month}.pdf"'
    return web.Response(
        body=pdf, content_type="application/pdf", headers={"Content-Disposition": disposition}
    )


@routes.post("/review")
async def mark_reviewed(request: web.Request) -> web.Response:
    _needs(request, "auditor")
    form = await request.post()
    month, comment = str(form.get("month", "")), str(form.get("comment", ""))
    try:
        await _call(request, "POST", "/clerk/api/audit/reviews", body={"month": month, "comment": comment})
    except HttpError as exc:
        figures = await _call(request, "GET", "/ops/api/audit/review", query={"month": month})
        return page(
            request, "review.html", 400, month=month, figures=figures, error=_error_text(exc), notice=""
        )
    figures = await _call(request, "GET", "/ops/api/audit/review", query={"month": month})
    return page(request, "review.html", month=month, figures=figures, notice=f"{month}: reviewed")


# -- static files ------------------------------------------------------------------------------------

STATIC = resources.files("registration.desk").joinpath("static")
STATIC_TYPES = {"desk.css": "text/css", "desk.js": "text/javascript"}


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


@routes.get("/static/{name}")
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_TYPES:
        raise web.HTTPNotFound()
    return web.Response(body=STATIC.joinpath(name).read_bytes(), content_type=STATIC_TYPES[name])


def make_desk_app(
    api: ServerApi,
    origins: frozenset[str],
    terminal: str,
    idle_lock_s: float = 300.0,
    entry: PinEntry | None = None,
    reader: str | None = None,
    pin_wait_s: float = 120.0,
    printer: Printer | None = None,
) -> web.Application:
    """The clerk's pages; ``entry`` is the customer display's (served by :func:`make_customer_app`)."""
    app = web.Application(middlewares=[local_only, server_trouble, logged_in], client_max_size=64 * 1024)
    app[ENTRY] = entry or PinEntry()
    app[READER] = reader
    app[PIN_WAIT_S] = pin_wait_s
    app[PRINTER] = printer or FolderPrinter(Path("out/desk"))
    app[API] = api
    app[SESSIONS] = DeskSessions(idle_lock_s)
    app[ORIGINS] = origins
    app[TERMINAL] = terminal
    app.add_routes(routes)

    async def close_api(_app: web.Application) -> None:
        await api.close()

    app.on_cleanup.append(close_api)
    return app
