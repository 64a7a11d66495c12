"""The clerk's pages (server-rendered, jinja2 with autoescape, one small script for the idle lock).

Security, one middleware each (:mod:`registration.desk.middleware`). The session cookie is HttpOnly and
SameSite=Strict; the server's staff token stays in this process. Nothing personal goes into a URL
(searches are posted) and the app writes no access log.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from devices.printing import FolderPrinter, Printer
from registration.desk.customer import PinEntry
from registration.desk.keys import (
    API,
    ENTRY,
    ISSUING_KEY,
    ORIGINS,
    PIN_WAIT_S,
    PRINTER,
    READER,
    REGISTRATION,
    SESSIONS,
    TERMINAL,
)
from registration.desk.middleware.local_only import local_only
from registration.desk.middleware.logged_in import logged_in
from registration.desk.middleware.server_trouble import server_trouble
from registration.desk.pages import (
    card,
    counter,
    lock,
    login,
    ops,
    phone,
    purges,
    resident,
    review,
    search,
    staff,
    static,
)
from registration.desk.registering import RegistrationSlot
from registration.desk.server_api import ServerApi
from registration.desk.sessions import DeskSessions

PAGES = (login, lock, search, resident, card, phone, counter, staff, ops, purges, review, static)


def make_desk_app(
    api: ServerApi,
    origins: frozenset[str],
    terminal: str,
    issuing_key: Ed25519PublicKey,
    idle_lock_s: float = 300.0,
    entry: PinEntry | None = None,
    reader: str | None = None,
    pin_wait_s: float = 120.0,
    printer: Printer | None = None,
) -> web.Application:
    """The clerk's pages; ``entry`` is the customer display's (served by :func:`make_customer_app`);
    ``issuing_key``: the city's, against which counter certificates are checked before printing."""
    app = web.Application(middlewares=[local_only, server_trouble, logged_in], client_max_size=64 * 1024)
    app[ENTRY] = entry or PinEntry()
    app[REGISTRATION] = RegistrationSlot()
    app[READER] = reader
    app[PIN_WAIT_S] = pin_wait_s
    app[PRINTER] = printer or FolderPrinter(Path("out/desk"))
    app[API] = api
    app[ISSUING_KEY] = issuing_key
    app[SESSIONS] = DeskSessions(idle_lock_s)
    app[ORIGINS] = origins
    app[TERMINAL] = terminal
    for page in PAGES:
        app.add_routes(page.routes)

    async def close_api(_app: web.Application) -> None:
        await api.close()

    app.on_cleanup.append(close_api)
    return app
