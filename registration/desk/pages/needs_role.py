"""A page's role check."""

from __future__ import annotations

from aiohttp import web

from registration.desk.keys import SESSION


def needs_role(request: web.Request, role: str) -> None:
    """403 unless the logged-in staff member has ``role``."""
    if role not in request[SESSION].roles:
        raise web.HTTPForbidden(text=f"this page needs the {role} role")
