"""A resident's record page, which the resident's tasks answer with."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from registration.desk.keys import SESSION
from registration.desk.rendering import page
from registration.desk.staff_calls import call
from registration.desk.words import say
from wire.kiosk_api import KIND_NAMES_JA

# Each status action, its label, and the registration statuses it applies to (the page offers only those).
STATUS_ACTIONS = {
    "unlock": ("ロック解除", "unlock", ("locked",)),
    "suspend": ("一時停止", "suspend", ("active", "locked")),
    "resume": ("停止解除", "resume", ("suspended",)),
    "revoke": ("失効（紛失）", "revoke: lost", ("active", "locked", "suspended")),
}
# What the clerk is told about a lock, by its reason.
LOCK_HELP = {"card_pin_blocked": "desk.card_pin_blocked_help", "pin_failures": "desk.pin_failures_help"}

KINDS = {kind.value: name for kind, name in KIND_NAMES_JA.items()}


async def _resident(request: web.Request, atena_no: str) -> dict[str, Any]:
    found = await call(request, "GET", "/clerk/api/residents", query={"atena_no": atena_no})
    if not found["residents"]:
        raise web.HTTPNotFound(text="no such resident (宛名番号が見つかりません)")
    return dict(found["residents"][0])


async def record_page(request: web.Request, atena_no: str, status: int = 200, **extra: Any) -> web.Response:
    resident = await _resident(request, atena_no)
    registrations: list[dict[str, Any]] | None = None
    if "registrar" in request[SESSION].roles:  # 個人番号 stays masked: only the mynumber role unmasks it
        registrations = (
            await call(request, "GET", "/clerk/api/registrations", query={"atena_no": atena_no})
        )["registrations"]
    issued: list[dict[str, Any]] | None = None
    if "counter" in request[SESSION].roles:
        issued = (await call(request, "GET", "/clerk/api/issuances", query={"atena_no": atena_no}))[
            "issuances"
        ]
    statuses = {r["status"] for r in registrations or []}
    actions = {key: (ja, en) for key, (ja, en, applies) in STATUS_ACTIONS.items() if statuses & set(applies)}
    helps = [
        say(LOCK_HELP[r["lock_reason"]])
        for r in registrations or []
        if r["status"] == "locked" and r.get("lock_reason") in LOCK_HELP
    ]
    for r in registrations or []:  # each credential's own actions (unlock is the resident's: see above)
        r["actions"] = {k: v for k, (ja, en, applies) in STATUS_ACTIONS.items() if k != "unlock"
                        and r["status"] in applies for v in [(ja, en)]}  # fmt: skip
    phones = any(r["form"] != "card" for r in registrations or [])
    values: dict[str, Any] = {
        "mynumber": None, "error": "", "notice": "", "confirm_revoke": None, "confirm_one": "", "phones": phones,
    } | extra  # fmt: skip
    return page(
        request, "resident.html", status, resident=resident, registrations=registrations, issuances=issued,
        actions=actions, kinds=KINDS, lock_help=helps, **values,
    )  # fmt: skip


def atena_no_of(request: web.Request) -> str:
    value = request.match_info["atena_no"]
    if not (value.isascii() and value.isdigit() and len(value) <= 15):
        raise web.HTTPNotFound(text="no such resident")
    return value
