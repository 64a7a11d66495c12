"""The kiosk app's local HTTP interface, for the touchscreen page on the same machine.

Only the local page may use it: the ``Host`` must be this app's own address (a DNS-rebinding page names
another host), and every state-changing request must carry the ``Origin`` of this app (a browser sets it
and a page of another origin cannot forge it). Each action maps to one engine step; the engine refuses
an action out of order. Answers are JSON; errors ``{"error": {"code", "message"}}``.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from kiosk.catalogue import catalogue, message_style, render_message
from kiosk.demo_card import DemoCard
from kiosk.engine import KioskEngine
from kiosk.payment import PaymentOutcome, SimulatedPaymentDevice
from kiosk.session_steps import StepError

ENGINE: web.AppKey[KioskEngine] = web.AppKey("engine", KioskEngine)
ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("origins", frozenset)
DEMO: web.AppKey[DemoCard | None] = web.AppKey("demo_card")
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
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
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


def view(engine: KioskEngine) -> dict[str, Any]:
    """The engine's state, with its message rendered in the resident's language (the page shows it)."""
    snap = engine.snapshot()
    message = snap.get("message")
    snap["message_text"] = render_message(engine.language, message) if message else None
    snap["message_style"] = message_style(message) if message else None
    return snap


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
    if since >= 0:
        await engine.wait_change(since, wait)
    return web.json_response(view(engine))


PAGE = resources.files("kiosk.page")
PAGE_FILES = {
    "app.js": "text/javascript",
    "app.css": "text/css",
    "card.svg": "image/svg+xml",
    "card-out.svg": "image/svg+xml",
    "phone.svg": "image/svg+xml",
}
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self';"
        " base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
}


@routes.get("/")
async def page(request: web.Request) -> web.Response:
    """The touchscreen page (a thin view of the state machine; everything from this machine)."""
    body = PAGE.joinpath("index.html").read_bytes()
    return web.Response(body=body, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


@routes.get("/page/{name}")
async def page_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in PAGE_FILES:
        raise web.HTTPNotFound(reason="no such file")
    body = PAGE.joinpath(name).read_bytes()
    return web.Response(body=body, content_type=PAGE_FILES[name], headers=PAGE_HEADERS)


@routes.get("/api/config")
async def config(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    return web.json_response({"languages": list(engine.languages), "demo": request.app[DEMO] is not None})


@routes.post("/api/touch")
async def touch(request: web.Request) -> web.Response:
    """The resident is working on the screen (digits typed, boxes ticked): the idle timeout restarts."""
    engine = request.app[ENGINE]
    engine.touch()
    return web.json_response({"idle_s_left": engine.snapshot()["idle_s_left"]})


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
        return web.json_response(view(engine))

    return handler


routes.post("/api/language")(_with_field("language", "choose_language"))
routes.post("/api/pin")(_with_field("pin", "enter_pin"))
routes.post("/api/select")(_with_field("kind", "select"))


@routes.post("/api/options")
async def options(request: web.Request) -> web.Response:
    engine = request.app[ENGINE]
    await engine.choose(await _body(request))
    return web.json_response(view(engine))


def _action(name: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handler(request: web.Request) -> web.Response:
        engine = request.app[ENGINE]
        await getattr(engine, name)()
        return web.json_response(view(engine))

    return handler


routes.post("/api/back")(_action("back"))
routes.post("/api/add-phone")(_action("add_phone"))
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


@demo_routes.post("/api/demo/card")
async def demo_card(request: web.Request) -> web.Response:
    """Demo only: insert or remove the virtual demo card in the vpcd reader."""
    card = request.app[DEMO]
    if card is None:
        raise web.HTTPNotFound(reason="no demo card configured")
    present = (await _body(request)).get("present")
    if not isinstance(present, bool):
        raise StepError("bad_choice", "present: true or false")
    await (card.insert() if present else card.remove())
    return web.json_response({"present": present})


@demo_routes.get("/api/demo/payment")
async def demo_ledger(request: web.Request) -> web.Response:
    device = request.app[ENGINE].payment
    if not isinstance(device, SimulatedPaymentDevice):
        raise web.HTTPNotFound(reason="no simulated payment device")
    taken, given = device.totals()
    return web.json_response({"waiting": device.waiting, "taken_yen": taken, "refunded_yen": given})


def make_local_app(
    engine: KioskEngine, host: str, port: int, demo: bool, demo_card: DemoCard | None = None
) -> web.Application:
    app = web.Application(middlewares=[local_only], client_max_size=MAX_BODY)
    app[ENGINE] = engine
    app[DEMO] = demo_card if demo else None
    names = {host, "127.0.0.1", "localhost"}
    app[ORIGINS] = frozenset(f"http://{name}:{port}" for name in names)
    app.add_routes(routes)
    if demo:
        app.add_routes(demo_routes)
    return app
