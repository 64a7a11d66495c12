"""Ops staff, as themselves: the mode, the registry link, the replica; the mode switched by hand."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registration.desk.pages.needs_role import needs_role
from registration.desk.rendering import page
from registration.desk.staff_calls import call, error_text, page_status
from wire.http_json import HttpError

routes = web.RouteTableDef()


async def _ops_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    state = await call(request, "GET", "/ops/api/status")
    values: dict[str, Any] = {"notice": "", "error": ""} | extra
    return page(request, "ops.html", status, state=state, **values)


@routes.get("/ops")
async def ops_status(request: web.Request) -> web.Response:
    """Ops staff, as themselves: the mode, the registry link, the replica; switch the mode by hand."""
    needs_role(request, "ops")
    return await _ops_page(request)


@routes.post("/ops/mode")
async def ops_mode(request: web.Request) -> web.Response:
    needs_role(request, "ops")
    form = await request.post()
    body = {"mode": str(form.get("mode", "")), "reason": str(form.get("reason", ""))}
    try:
        await call(request, "POST", "/ops/api/mode", body=body)
    except HttpError as exc:
        return await _ops_page(request, page_status(exc), error=error_text(exc))
    return await _ops_page(request, notice=f"mode {body['mode']}: done")
