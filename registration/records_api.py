"""Records kept and erased at the city hall (``/clerk/api``): an auditor marks a month's review of the
operation logs done; one staff member requests a purge past retention and another, an administrator,
approves it (only then is it carried out)."""

from __future__ import annotations

from aiohttp import web

from issuance_server.access import actor_of, allow, staff
from issuance_server.api_errors import ApiError, clip, field, json_response, read_json
from issuance_server.audit import review as audit_review
from issuance_server.backups import purge
from issuance_server.core import core_of

routes = web.RouteTableDef()


@routes.post("/api/audit/reviews")
@allow(staff("auditor"))
async def mark_reviewed(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    comment = field(data, "comment", str).strip()
    if not comment or len(comment) > 2000:
        raise ApiError(
            400, "bad_field", "comment: what you checked and found, 1-2000 characters", field="comment"
        )
    try:
        return json_response(
            await audit_review.record_review(core, actor, field(data, "month", str), comment), status=201
        )
    except ValueError as exc:
        raise ApiError(400, "bad_field", clip(exc), field="month") from None


@routes.get("/api/purges")
@allow(staff("ops", "admin"))
async def purges(request: web.Request) -> web.Response:
    return json_response({"purges": await purge.list_purges(core_of(request))})


@routes.post("/api/purges")
@allow(staff("ops"))
async def request_purge(request: web.Request) -> web.Response:
    """Ask for a purge of everything older than ``before``; nothing is erased until an administrator who
    is not the requester approves."""
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    reason = field(data, "reason", str, required=False, default="")
    return json_response(
        await purge.request_purge(core, actor, field(data, "before", str), reason), status=201
    )


@routes.post("/api/purges/{purge_id:[0-9]{1,9}}/approve")
@allow(staff("admin"))
async def approve_purge(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    return json_response(await purge.approve_purge(core, actor, int(request.match_info["purge_id"])))
