"""A page's role check."""

from __future__ import annotations

from aiohttp import web

from registration.desk.keys import SESSION
from registration.desk.rendering import forbidden
from registration.desk.words import label, say


def needs_role(request: web.Request, *roles: str) -> None:
    """403 (a page with the way back) unless the logged-in staff member has one of ``roles``."""
    if not set(roles) & set(request[SESSION].roles):
        raise forbidden(request, say("desk.needs_role", role="、".join(label(r, "role") for r in roles)))
