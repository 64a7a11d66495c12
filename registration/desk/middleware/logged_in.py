"""A desk session for every page but the public ones; the lock screen; a form's CSRF token."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable

from aiohttp import web

from registration.desk.keys import COOKIE, SESSION, SESSIONS
from registration.desk.rendering import refusal_page, say

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


PUBLIC_PATHS = frozenset({"/login", "/enrol/confirm", "/static/desk.css", "/static/desk.js", "/favicon.ico"})


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
            return refusal_page(403, say("desk.form_expired"))
    if session.locked and request.path not in ("/lock", "/logout"):
        raise web.HTTPSeeOther("/lock")
    return await handler(request)
