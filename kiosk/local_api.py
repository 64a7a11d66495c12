"""The kiosk app's local HTTP interface, for the touchscreen page on the same machine.

Only the local page may use it: the ``Host`` must be this app's own address (a DNS-rebinding page names
another host), and every state-changing request must carry the ``Origin`` of this app (a browser sets it
and a page of another origin cannot forge it). Each action maps to one engine step; the engine refuses
an action out of order. Answers are JSON; errors ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from kiosk.catalogue import catalogue
from kiosk.engine import KioskEngine, StepError
from kiosk.payment import PaymentOutcome, SimulatedPaymentDevice

ENGINE: web.AppKey[KioskEngine] = web.AppKey("engine", KioskEngine)
ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("origins", frozenset)
MAX_BODY = 16 * 1024
HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, code: str, message: str) -> web.Response:
    body = json.dumps({"error": {"code": code, "message": message}})
    return web.Response(status=status, text=body, content_type="application/json", headers=HEADERS)


@web.middleware
async def local_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    origins = request.app[ORIGINS]
    if f"http://{request.host}" not in origins:
        return _error(403, "not_local", "this interface serves the kiosk's own page only")
    origin = request.headers.get("Origin")
    if request.method != "GET" and origin not in origins:
        return _error(403, "bad_origin", "requests must come from the kiosk's own page")
    if request.method == "GET" and origin is not None and origin not in origins:
        return _error(403, "bad_origin", "requests must come from the kiosk's own page")
    try:
        response = await handler(request)
    except StepError as exc:
        return _error(400 if exc.code == "bad_choice" else 409, exc.code, exc.message)
    except web.HTTPException as exc:
        return _error(exc.status, "not_found" if exc.status == 404 else f"http_{exc.status}", exc.reason)
    response.headers.update(HEADERS)
    return response


async def _body(request: web.Request) -> dict[str, Any]:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise StepError("bad_choice", "request body too large")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise StepError("bad_choice", "request body too large")
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        raise StepError("bad_choice", "the body must be JSON") from None
    if not isinstance(data, dict):
        raise StepError("bad_choice", "the body must be a JSON object")
    return data


def _text(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str):
        raise StepError("bad_choice", f"{name} is required")
    return value


routes = web.RouteTableDef()


@routes.get("/api/state")
async def state(request: web.Request) -> web.Response:
    """The screen's state; with ``since=<version>`` it waits (up to ``wait`` s, at most 25) for a change."""
    engine = request.app[ENGINE]
    try:
        since = int(request.query.get("since", "-1"))
        wait = min(float(request.query.get("wait", "20")), 25.0)
    except ValueError:
        raise StepError("bad_choice", "since and wait are numbers") from None
    snap = engine.snapshot() if since < 0 else await engine.wait_change(since, wait)
    return web.json_response(snap)


@routes.get("/api/messages/{language}")
async def messages(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    language = request.match_info["language"]
    if language not in engine.languages:
        raise web.HTTPNotFound(reason="no catalogue for this language")
    return web.json_response(catalogue(language))


def _with_field(name: str, action: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    """POST handler: one text field of the body, passed to the engine's action."""

    async def handler(request: web.Request) -> web.Response:
        engine = request.app[ENGINE]
        await getattr(engine, action)(_text(await _body(request), name))
        return web.json_response(engine.snapshot())

    return handler


routes.post("/api/language")(_with_field("language", "choose_language"))
routes.post("/api/pin")(_with_field("pin", "enter_pin"))
routes.post("/api/select")(_with_field("kind", "select"))


@routes.post("/api/options")
async def options(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    await engine.choose(await _body(request))
    return web.json_response(engine.snapshot())


def _action(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        engine = request.app[ENGINE]
        await getattr(engine, name)()
        return web.json_response(engine.snapshot())

    return handler


routes.post("/api/back")(_action("back"))
routes.post("/api/pay")(_action("pay"))
routes.post("/api/print")(_action("start_print"))
routes.post("/api/cancel")(_action("cancel"))


demo_routes = web.RouteTableDef()


@demo_routes.post("/api/demo/payment")
async def demo_payment(request: web.Request) -> web.Response:
    """Demo and tests only: the simulated device's next outcome, or the answer to the payment waiting."""
    engine = request.app[ENGINE]
    device = engine.payment
    if not isinstance(device, SimulatedPaymentDevice):
        raise web.HTTPNotFound(reason="no simulated payment device")
    try:
        outcome = PaymentOutcome(_text(await _body(request), "outcome"))
    except ValueError:
        raise StepError("bad_choice", f"outcome: one of {', '.join(PaymentOutcome)}") from None
    if not device.resolve(outcome):
        device.script.append(outcome)
    taken, given = device.totals()
    return web.json_response({"outcome": outcome.value, "taken_yen": taken, "refunded_yen": given})


@demo_routes.get("/api/demo/payment")
async def demo_ledger(request: web.Request) -> web.Response:
    device = request.app[ENGINE].payment
    if not isinstance(device, SimulatedPaymentDevice):
        raise web.HTTPNotFound(reason="no simulated payment device")
    taken, given = device.totals()
    return web.json_response({"waiting": device.waiting, "taken_yen": taken, "refunded_yen": given})


def make_local_app(engine: KioskEngine, host: str, port: int, demo: bool) -> web.Application:
    app = web.Application(middlewares=[local_only], client_max_size=MAX_BODY)
    app[ENGINE] = engine
    names = {host, "127.0.0.1", "localhost"}
    app[ORIGINS] = frozenset(f"http://{name}:{port}" for name in names)
    app.add_routes(routes)
    if demo:
        app.add_routes(demo_routes)
    return app
