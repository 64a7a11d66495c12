"""The idle lock (unlocked with the password again) and logging out."""

from __future__ import annotations

import contextlib

from aiohttp import web

from registration.desk.keys import API, COOKIE, ENTRY, REGISTRATION, SESSION, SESSIONS
from registration.desk.rendering import page
from registration.desk.staff_calls import error_text
from registration.desk.words import say
from wire.http_json import HttpError

routes = web.RouteTableDef()


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
        return page(request, "lock.html", 401, error=error_text(exc))
    session.locked = False
    raise web.HTTPSeeOther("/")


@routes.post("/logout")
async def logout(request: web.Request) -> web.Response:
    session = request[SESSION]
    registering = request.app[REGISTRATION].of(session.sid)
    if registering is not None:  # a registration this clerk left running ends with them
        await request.app[REGISTRATION].cancel(registering, say("desk.registration_cancelled"))
        request.app[ENTRY].cancel("cancelled")
    with contextlib.suppress(HttpError):  # the server may have ended it already
        await request.app[API].call("POST", "/clerk/api/logout", token=session.token)
    request.app[SESSIONS].end(session.sid)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(COOKIE, path="/")
    raise response
