"""A resident's record: shown, its 個人番号 unmasked for a reason, its registrations' status changed."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registration.desk.pages.card import card_refusal
from registration.desk.pages.record import STATUS_ACTIONS, atena_no_of, record_page
from registration.desk.staff_calls import call, error_text, page_status
from registration.desk.words import say
from wire.http_json import HttpError

routes = web.RouteTableDef()


@routes.get("/residents/{atena_no}")
async def resident(request: web.Request) -> web.Response:
    return await record_page(request, atena_no_of(request))


@routes.post("/residents/{atena_no}/mynumber")
async def unmask(request: web.Request) -> web.Response:
    """The 個人番号 shown in this answer only (the page is not cached), for the reason typed."""
    atena_no = atena_no_of(request)
    form = await request.post()
    try:
        shown = await call(
            request,
            "GET",
            f"/clerk/api/residents/{atena_no}/mynumber",
            query={"reason": str(form.get("reason", ""))},
        )
    except HttpError as exc:
        return await record_page(request, atena_no, 400, error=error_text(exc))
    return await record_page(request, atena_no, mynumber=shown["kojin_bango"])


@routes.post("/residents/{atena_no}/status")
async def change_status(request: web.Request) -> web.Response:
    atena_no = atena_no_of(request)
    form = await request.post()
    action, _, one = str(form.get("action", "")).partition(":")  # "revoke:12": that credential only
    one = one or str(form.get("registration_id", ""))
    if action not in STATUS_ACTIONS:
        return await record_page(request, atena_no, 400, error=say("desk.choose_action"))
    body: dict[str, Any] = {"atena_no": atena_no, "reason": str(form.get("reason", ""))}
    if one:  # one credential (a lost phone does not stop the card)
        if not one.isascii() or not one.isdigit() or len(one) > 19 or not 1 <= int(one) < 2**63:
            return await record_page(request, atena_no, 400, error=say("desk.choose_action"))
        body["registration_id"] = int(one)
    if action == "revoke" and form.get("confirmed") != "yes":  # for good: asked once more, with the reason
        return await record_page(request, atena_no, confirm_revoke=body["reason"], confirm_one=one)
    if action == "unlock":  # the resident is here with the card: it must be the card registered to them
        refusal = await card_refusal(request, atena_no)
        if refusal is not None:
            return await record_page(request, atena_no, 400, error=refusal)
    try:
        await call(request, "POST", f"/clerk/api/registrations/{action}", body=body)
    except HttpError as exc:
        return await record_page(request, atena_no, page_status(exc), error=error_text(exc))
    return await record_page(request, atena_no, notice=say(f"desk.status_done.{action}"))
