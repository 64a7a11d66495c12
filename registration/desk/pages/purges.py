"""Purges of old records: asked for by one staff member, approved by an administrator other than them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registration.desk.pages.needs_role import needs_role
from registration.desk.rendering import page
from registration.desk.staff_calls import call, error_text, page_status
from wire.http_json import HttpError

routes = web.RouteTableDef()


async def _purges_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    listed = await call(request, "GET", "/clerk/api/purges")
    values: dict[str, Any] = {"notice": "", "error": ""} | extra
    return page(request, "purges.html", status, purges=listed["purges"], **values)


@routes.get("/purges")
async def purges(request: web.Request) -> web.Response:
    needs_role(request, "ops", "admin")
    return await _purges_page(request)


@routes.post("/purges")
async def request_purge(request: web.Request) -> web.Response:
    """One staff member asks; nothing is erased until an administrator other than them approves."""
    needs_role(request, "ops")
    form = await request.post()
    body = {"before": str(form.get("before", "")), "reason": str(form.get("reason", ""))}
    try:
        made = await call(request, "POST", "/clerk/api/purges", body=body)
    except HttpError as exc:
        return await _purges_page(request, page_status(exc), error=error_text(exc))
    return await _purges_page(
        request, notice=f"purge {made['purge_id']} requested: an administrator approves it"
    )


@routes.post("/purges/{purge_id:[0-9]{1,9}}/approve")
async def approve_purge(request: web.Request) -> web.Response:
    needs_role(request, "admin")
    purge_id = request.match_info["purge_id"]
    try:
        done = await call(request, "POST", f"/clerk/api/purges/{purge_id}/approve")
    except HttpError as exc:
        return await _purges_page(request, page_status(exc), error=error_text(exc))
    erased = done["erased"]
    notice = f"purge {purge_id} done: {erased['issuances']} issuance records, {erased['audit_rows_erased']} audit rows"
    return await _purges_page(request, notice=notice)
