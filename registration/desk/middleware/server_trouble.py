"""The server's trouble said on a page, not a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from registration.desk.keys import SESSION
from registration.desk.rendering import forbidden, refusal_page, say
from registration.desk.staff_calls import error_text
from wire.http_json import HttpError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def server_trouble(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The server unreachable or answering an error a page did not expect: said on a page, not a 500."""
    try:
        return await handler(request)
    except HttpError as exc:
        if exc.status == 403 and request.get(SESSION) is not None:  # a role the clerk lacks: the way back
            return forbidden(request, error_text(exc))
        if 0 < exc.status < 500:
            return refusal_page(exc.status, error_text(exc))
        return refusal_page(502, say("desk.server_trouble", detail=f"{exc.message} ({exc.code})"))
