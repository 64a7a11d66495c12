"""Only this machine's browser, on the app's own address: the Host and a form's Origin checked;
the security headers on every answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from registration.desk.keys import ORIGINS
from registration.desk.rendering import HEADERS, refusal_page, say

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def local_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Only this machine's browser, on this app's own address, may use it; forms only from this origin."""
    origins = request.app[ORIGINS]
    if f"http://{request.host}" not in origins:
        return refusal_page(403, say("desk.not_local"))
    if request.method == "POST" and request.headers.get("Origin") not in origins:
        return refusal_page(403, say("desk.bad_origin"))
    response = await handler(request)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response
