"""Logging in (password and second factor) and the second factor's enrolment at a first login."""

from __future__ import annotations

import base64
import hmac
import io
import secrets
from typing import Any

import qrcode
import qrcode.image.svg
from aiohttp import web

from registration.desk.keys import API, COOKIE, ENROL_COOKIE, LOGIN_COOKIE, SESSION, SESSIONS, TERMINAL
from registration.desk.rendering import page
from registration.desk.sessions import PendingEnrolment
from registration.desk.staff_calls import error_text
from registration.desk.words import Said
from wire.http_json import HttpError

routes = web.RouteTableDef()


def _login_page(
    request: web.Request, error: str | Said = "", status: int = 200, staff_id: str = ""
) -> web.Response:
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
            return _login_page(request, error_text(exc), 401 if exc.status == 401 else 400, staff_id)
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
        return page(request, "enrol.html", 400, pending=pending, enrol_csrf=key, error=error_text(exc))
    sessions.finish_enrolment(key)
    me = await request.app[API].call("GET", "/clerk/api/me", token=answer["token"])
    session = sessions.open(pending.staff_id, answer["token"], frozenset(me["roles"]))
    request[SESSION] = session
    response = page(request, "recovery_codes.html", codes=answer["recovery_codes"])
    response.set_cookie(COOKIE, session.sid, httponly=True, samesite="Strict", path="/")
    response.del_cookie(ENROL_COOKIE, path="/")
    return response
