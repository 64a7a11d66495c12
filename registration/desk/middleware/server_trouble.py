"""The server's trouble said on a page, not a 500."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from registration.desk.rendering import refusal_page
from registration.desk.staff_calls import error_text
from wire.http_json import HttpError

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def server_trouble(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The server unreachable or answering an error a page did not expect: said on a page, not a 500."""
    try:
        return await handler(request)
    except HttpError as exc:
        status = 502 if exc.status in (0,) or exc.status >= 500 else exc.status
        return refusal_page(status, f"the issuance server answered: {error_text(exc)}")
