"""A resident's record page, which the resident's tasks answer with."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registration.desk.keys import SESSION
from registration.desk.rendering import page
from registration.desk.staff_calls import call
from wire.kiosk_api import KIND_NAMES_JA

STATUS_ACTIONS = {
    "unlock": "ロック解除 unlock",
    "suspend": "一時停止 suspend",
    "resume": "停止解除 resume",
    "revoke": "失効（カード紛失） revoke: lost card",
}


KINDS = {kind.value: name for kind, name in KIND_NAMES_JA.items()}


async def _resident(request: web.Request, atena_no: str) -> dict[str, Any]:
    found = await call(request, "GET", "/clerk/api/residents", query={"atena_no": atena_no})
    if not found["residents"]:
        raise web.HTTPNotFound(text="no such resident")
    return dict(found["residents"][0])


async def record_page(request: web.Request, atena_no: str, status: int = 200, **extra: Any) -> web.Response:
    resident = await _resident(request, atena_no)
    registrations: list[dict[str, Any]] | None = None
    if "registrar" in request[SESSION].roles:
        registrations = (
            await call(request, "GET", "/clerk/api/registrations", query={"atena_no": atena_no})
        )["registrations"]
    issued: list[dict[str, Any]] | None = None
    if "counter" in request[SESSION].roles:
        issued = (await call(request, "GET", "/clerk/api/issuances", query={"atena_no": atena_no}))[
            "issuances"
        ]
    values: dict[str, Any] = {"mynumber": None, "error": "", "notice": ""} | extra
    return page(
        request, "resident.html", status, resident=resident, registrations=registrations, issuances=issued,
        actions=STATUS_ACTIONS, kinds=KINDS, **values,
    )  # fmt: skip


def atena_no_of(request: web.Request) -> str:
    value = request.match_info["atena_no"]
    if not (value.isascii() and value.isdigit() and len(value) <= 15):
        raise web.HTTPNotFound(text="no such resident")
    return value
