"""The desk's pages rendered (jinja2, autoescaped), and the headers every answer carries."""

from __future__ import annotations

from typing import Any

import jinja2
from aiohttp import web

from registration.desk.keys import SESSION, SESSIONS
from registration.desk.words import Said, filters, say

HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # "no-referrer" would make a form's Origin "null"
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self';"
        " form-action 'self';"
        " base-uri 'none'; frame-ancestors 'none'"
    ),
}


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("registration.desk", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(filters())
    return env


TEMPLATES = _environment()


def page(request: web.Request, name: str, status: int = 200, **values: Any) -> web.Response:
    session = request.get(SESSION)
    values.setdefault("error", "")
    html = TEMPLATES.get_template(name).render(
        session=session, csrf=session.csrf if session else "", roles=session.roles if session else frozenset(),
        idle_lock_s=int(request.app[SESSIONS].idle_lock_s), **values,
    )  # fmt: skip
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8")


def refusal_page(status: int, message: Said) -> web.Response:
    """A refusal before any session is known (not this desk's address, a foreign form): no navigation."""
    html = TEMPLATES.get_template("refused.html").render(message=message)
    return web.Response(text=html, status=status, content_type="text/html", charset="utf-8", headers=HEADERS)


def forbidden(request: web.Request, message: Said) -> web.HTTPForbidden:
    """403 as a page of the desk (with its navigation and the way back), for a page the clerk's roles do
    not open."""
    html = page(request, "forbidden.html", 403, message=message).text or ""
    return web.HTTPForbidden(text=html, content_type="text/html", headers=HEADERS)


__all__ = ["HEADERS", "forbidden", "page", "refusal_page", "say"]
