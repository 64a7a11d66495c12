"""Staff administration (the admin role): asking for staff, changing roles, approvals."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registration.desk.pages.needs_role import needs_role
from registration.desk.rendering import page
from registration.desk.staff_calls import call, error_text, page_status
from wire.http_json import HttpError
from wire.roles import ROLES

routes = web.RouteTableDef()
ADMIN_ACTIONS = {"unlock": "ロック解除 unlock", "totp-reset": "二要素の再登録 reset second factor",
                 "deactivate": "利用停止 deactivate", "activate": "利用再開 activate"}  # fmt: skip


async def _staff_page(request: web.Request, status: int = 200, **extra: Any) -> web.Response:
    listed = await call(request, "GET", "/clerk/api/admin/staff")
    values: dict[str, Any] = {"notice": "", "error": ""} | extra
    return page(
        request, "staff.html", status, staff=listed["staff"], all_roles=ROLES, actions=ADMIN_ACTIONS, **values
    )


@routes.get("/admin/staff")
async def staff_list(request: web.Request) -> web.Response:
    needs_role(request, "admin")
    return await _staff_page(request)


@routes.post("/admin/staff")
async def staff_create(request: web.Request) -> web.Response:
    needs_role(request, "admin")
    form = await request.post()
    body = {"staff_id": str(form.get("staff_id", "")).strip(), "display_name": str(form.get("display_name", "")),
            "roles": [str(r) for r in form.getall("roles", [])]}  # fmt: skip
    try:
        await call(request, "POST", "/clerk/api/admin/staff", body=body)
    except HttpError as exc:
        return await _staff_page(request, page_status(exc), error=error_text(exc))
    return await _staff_page(
        request, notice=f"{body['staff_id']}: asked for; another administrator approves it and sets the temporary"
        " password"
    )  # fmt: skip


@routes.post("/admin/staff/{staff_id}")
async def staff_change(request: web.Request) -> web.Response:
    needs_role(request, "admin")
    staff_id = request.match_info["staff_id"]
    form = await request.post()
    action = str(form.get("action", ""))
    try:
        if action == "roles":
            body = {"roles": [str(r) for r in form.getall("roles", [])]}
            await call(request, "PATCH", f"/clerk/api/admin/staff/{staff_id}", body=body)
        elif action in ("deactivate", "activate"):
            await call(
                request, "PATCH", f"/clerk/api/admin/staff/{staff_id}", body={"active": action == "activate"}
            )
        elif action in ("unlock", "totp-reset", "reject"):
            await call(request, "POST", f"/clerk/api/admin/staff/{staff_id}/{action}")
        elif action == "approve":
            answer = {"password": str(form["password"])} if "password" in form else {}
            await call(request, "POST", f"/clerk/api/admin/staff/{staff_id}/approve", body=answer)
        else:
            return await _staff_page(request, 400, error="choose an action")
    except HttpError as exc:
        return await _staff_page(request, page_status(exc), error=error_text(exc))
    done = {"approve": "承認しました approved", "reject": "取り下げました rejected",
            "roles": "役割を変更（追加は承認待ち） roles changed (added ones wait for approval)"}  # fmt: skip
    return await _staff_page(request, notice=f"{staff_id}: {ADMIN_ACTIONS.get(action) or done[action]}")
