"""The clerk sub-application (``/clerk/api``): staff login, card + PIN registration, unlock, suspend."""

from __future__ import annotations

import base64
import binascii

from aiohttp import web

from issuance_server.api_errors import ApiError, field, json_response, read_json
from issuance_server.core import core_of
from registration import card_registration
from registration.staff_auth import login, staff_actor

routes = web.RouteTableDef()


def _atena_no(data: dict[str, object]) -> str:
    value = field(data, "atena_no", str)
    if not (value.isascii() and value.isdigit() and 1 <= len(value) <= 15):
        raise ApiError(400, "bad_field", "atena_no must be digits", field="atena_no")
    return value


@routes.post("/api/login")
async def staff_login(request: web.Request) -> web.Response:
    core = core_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    token = await login(
        core,
        field(data, "staff_id", str),
        field(data, "password", str),
        field(data, "terminal", str, required=False, default=request.remote or "unknown"),
    )
    return json_response({"token": token})


@routes.post("/api/registrations")
async def register(request: web.Request) -> web.Response:
    core, actor = await staff_actor(request, "registrar")
    data = await read_json(request, core.settings.max_body_bytes)
    try:
        cert_der = base64.b64decode(field(data, "certificate", str), validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_field", "certificate must be base64 DER", field="certificate") from None
    result = await card_registration.register_card(
        core, actor, _atena_no(data), cert_der, field(data, "pin", str)
    )
    return json_response(result, status=201)


@routes.post("/api/registrations/{action:unlock|suspend|resume}")
async def change_status(request: web.Request) -> web.Response:
    core, actor = await staff_actor(request, "registrar")
    data = await read_json(request, core.settings.max_body_bytes)
    reason = field(data, "reason", str, required=False, default="")
    changed = await card_registration.set_status(
        core, actor, _atena_no(data), request.match_info["action"], reason
    )
    return json_response({"changed": changed})


@routes.get("/api/registrations")
async def list_registrations(request: web.Request) -> web.Response:
    core, _actor = await staff_actor(request, "registrar")
    atena_no = _atena_no(dict(request.query))
    return json_response({"registrations": await card_registration.registrations_of(core, atena_no)})


def make_clerk_app() -> web.Application:
    app = web.Application()
    app.add_routes(routes)
    return app
