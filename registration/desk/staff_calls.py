"""The issuance server called as the logged-in staff member, and how its refusals show on a page."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registration.desk.keys import API, SESSION, SESSIONS
from registration.desk.words import Said, said_of
from wire.http_json import HttpError


async def call(request: web.Request, method: str, path: str, **kw: Any) -> dict[str, Any]:
    """The server as the logged-in staff member; a session the server ended sends the clerk to log in."""
    session = request[SESSION]
    try:
        return await request.app[API].call(method, path, token=session.token, **kw)
    except HttpError as exc:
        if exc.status == 401 and exc.code in ("staff_unauthorized", "staff_session_expired"):
            request.app[SESSIONS].end(session.sid)
            raise web.HTTPSeeOther("/login") from None
        raise


def page_status(exc: HttpError) -> int:
    """A page's status after the server refused: the clerk's input (400), or the server's trouble (502)."""
    return 400 if 0 < exc.status < 500 else 502


def error_text(exc: HttpError) -> Said:
    """The server's refusal as the clerk reads it (Japanese, then English, then the code)."""
    return said_of(exc)
