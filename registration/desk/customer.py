"""The customer display: a second local page, facing the resident, on its own port (another origin than
the clerk's pages, so the clerk's page can neither script it nor read it), where the resident types the new
PIN twice, then the PIN of the card's identity application (券面事項入力補助用暗証番号: the desk reads the
card's own identity with it, which the server compares with the resident's record). To link a smartphone it
asks the registered card's PIN, then for the phone, then the phone's PIN (an Android phone's own) or a new
one for it (an iPhone, which has none at the terminal). The PINs live only in
this process's memory until they are used on the card and the new one sent to the server; no answer of the
clerk's pages ever carries them, and neither does this page's state."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from wire.catalogues import languages_of, read_catalogue

PIN_LENGTH = 4
CUSTOMER_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; form-action 'none';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
}
# What the resident reads at each step, in the kiosk's eleven languages (customer.<step> in the catalogues).
MESSAGES = "registration.desk.customer_messages"
STEPS = (
    "idle", "first", "repeat", "identity", "mismatch", "checking", "done", "failed", "cancelled", "card_pin",
    "phone", "phone_pin", "phone_new",
)  # fmt: skip

ONE_PIN = ("card_pin", "phone_pin", "phone_new")  # a single PIN asked (linking a phone)
ASKING = ("first", "repeat", "mismatch", "identity", *ONE_PIN)


class PinEntry:
    """What the customer display shows, and what the resident typed: the new PIN (twice alike) and the
    card's identity PIN, handed out once."""

    def __init__(self) -> None:
        self.step = "idle"
        self.version = 0
        self._first: str | None = None
        self._pin: str | None = None
        self._entered: asyncio.Future[tuple[str, str]] | None = None
        self._one: asyncio.Future[str] | None = None  # the PIN of a ONE_PIN step
        self._changed = asyncio.Event()

    def _set(self, step: str) -> None:
        self.step = step
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    def state(self) -> dict[str, Any]:
        """The step (the page words it in the resident's language), with its Japanese and English."""
        prompt = f"customer.{self.step}"
        return {"step": self.step, "version": self.version, "accepts_pin": self.step in ASKING,
                "prompt": read_catalogue(MESSAGES, "ja")[prompt],
                "prompt_en": read_catalogue(MESSAGES, "en")[prompt]}  # fmt: skip

    async def wait_change(self, since: int, timeout_s: float) -> None:
        if self.version != since:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._changed.wait(), timeout_s)

    def begin(self) -> asyncio.Future[tuple[str, str]]:
        """Ask the resident for a new PIN and the card's identity PIN; the future gives (new PIN, identity
        PIN) once the new one is typed twice alike and the identity PIN after it."""
        if self._entered is not None and not self._entered.done():
            self._entered.cancel()
        self._first = self._pin = None
        self._entered = asyncio.get_running_loop().create_future()
        self._set("first")
        return self._entered

    def ask(self, step: str) -> asyncio.Future[str]:
        """Ask one PIN (``step`` of ONE_PIN); the future gives it once typed."""
        self._drop_asks()
        self._one = asyncio.get_running_loop().create_future()
        self._set(step)
        return self._one

    def show(self, step: str) -> None:
        """Say ``step`` (``phone``: hold the phone over the reader), asking nothing."""
        self._drop_asks()
        self._set(step)

    def _drop_asks(self) -> None:
        for asked in (self._entered, self._one):
            if asked is not None and not asked.done():
                asked.cancel()
        self._first = self._pin = None

    def submit(self, pin: str) -> None:
        if not (len(pin) == PIN_LENGTH and pin.isascii() and pin.isdigit()):
            raise ValueError(f"the PIN is {PIN_LENGTH} digits")
        if self.step in ONE_PIN and self._one is not None and not self._one.done():
            self._one.set_result(pin)
            self._set("checking")
            return
        if self._entered is None or self._entered.done() or self.step not in ASKING:
            raise LookupError("no PIN is asked for now")
        if self.step == "identity" and self._pin is not None:
            self._entered.set_result((self._pin, pin))
            self._pin = None
            self._set("checking")
        elif self._first is None:
            self._first = pin
            self._set("repeat")
        elif self._first != pin:
            self._first = None
            self._set("mismatch")
        else:
            self._first, self._pin = None, pin
            self._set("identity")

    def finish(self, ok: bool) -> None:
        self._first = self._pin = None
        self._set("done" if ok else "failed")

    def cancel(self, step: str = "idle") -> None:
        """Nothing more is asked; ``step``: what the display says (``cancelled``: the clerk cancelled)."""
        self._drop_asks()
        self._set(step)


ENTRY: web.AppKey[PinEntry] = web.AppKey("pin_entry", PinEntry)
CUSTOMER_ORIGINS: web.AppKey[frozenset[str]] = web.AppKey("customer_origins", frozenset)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PAGE = resources.files("registration.desk").joinpath("static")
PAGE_FILES = {"customer.js": "text/javascript", "customer.css": "text/css"}
routes = web.RouteTableDef()


def _json(data: dict[str, Any], status: int = 200) -> web.Response:
    return web.Response(
        text=json.dumps(data, ensure_ascii=False), status=status, content_type="application/json"
    )


@web.middleware
async def own_origin_only(request: web.Request, handler: Handler) -> web.StreamResponse:
    origins = request.app[CUSTOMER_ORIGINS]
    if f"http://{request.host}" not in origins:
        return _json(
            {"error": {"code": "not_local", "message": "this display serves its own address only"}}, 403
        )
    origin = request.headers.get("Origin")
    if (request.method != "GET" or origin is not None) and origin not in origins:
        return _json(
            {"error": {"code": "bad_origin", "message": "only the customer display's own page"}}, 403
        )
    response = await handler(request)
    for name, value in CUSTOMER_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


@routes.get("/")
async def display(request: web.Request) -> web.Response:
    body = PAGE.joinpath("customer.html").read_bytes()
    return web.Response(body=body, content_type="text/html", charset="utf-8")


@routes.get("/static/{name}")
async def display_file(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in PAGE_FILES:
        raise web.HTTPNotFound()
    return web.Response(body=PAGE.joinpath(name).read_bytes(), content_type=PAGE_FILES[name])


@routes.get("/api/state")
async def state(request: web.Request) -> web.Response:
    """What to show; with ``since=<version>`` it waits (up to 20 s) for a change."""
    entry = request.app[ENTRY]
    try:
        since = int(request.query.get("since", "-1"))
    except ValueError:
        since = -1
    if since >= 0:
        await entry.wait_change(since, 20.0)
    return _json(entry.state())


@routes.get("/api/languages")
async def display_languages(request: web.Request) -> web.Response:
    """The languages the resident may choose, each named in itself, in the kiosk's order."""
    return _json(
        {"languages": [{"code": lang, "name": read_catalogue(MESSAGES, lang)["customer.language_name"]}
                       for lang in languages_of(MESSAGES)]}
    )  # fmt: skip


@routes.get("/api/messages/{language}")
async def display_messages(request: web.Request) -> web.Response:
    language = request.match_info["language"]
    if language not in languages_of(MESSAGES):
        return _json({"error": {"code": "not_found", "message": "no such language"}}, 404)
    return _json(read_catalogue(MESSAGES, language))


@routes.post("/api/pin")
async def pin(request: web.Request) -> web.Response:
    entry = request.app[ENTRY]
    try:
        data = await request.json()
        entry.submit(str(data.get("pin", "")) if isinstance(data, dict) else "")
    except ValueError as exc:
        return _json({"error": {"code": "bad_pin", "message": str(exc)}}, 400)
    except LookupError as exc:
        return _json({"error": {"code": "not_asked", "message": str(exc)}}, 409)
    return _json(entry.state())


def make_customer_app(entry: PinEntry, origins: frozenset[str]) -> web.Application:
    app = web.Application(middlewares=[own_origin_only], client_max_size=4 * 1024)
    app[ENTRY] = entry
    app[CUSTOMER_ORIGINS] = origins
    app.add_routes(routes)
    return app
