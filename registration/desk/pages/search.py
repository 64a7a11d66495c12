"""The home page: finding a resident."""

from __future__ import annotations

from aiohttp import web

from registration.desk.rendering import page
from registration.desk.staff_calls import call, error_text
from registration.desk.words import has_variants, say
from wire.http_json import HttpError

routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    return page(request, "search.html", results=None, query={}, error="")


@routes.post("/search")
async def search(request: web.Request) -> web.Response:
    form = await request.post()
    query = {k: str(form.get(k, "")).strip() for k in ("name", "atena_no", "birth_date")}
    if not any(query.values()):
        return page(
            request, "search.html", 400, results=None, query=query, error=say("desk.search_needs_input")
        )
    try:
        found = await call(
            request, "GET", "/clerk/api/residents", query={k: v for k, v in query.items() if v}
        )
    except HttpError as exc:
        return page(request, "search.html", 400, results=None, query=query, error=error_text(exc))
    residents = found["residents"]
    marked = any(has_variants(r["name"]) or has_variants(r.get("tsusho")) for r in residents)
    return page(request, "search.html", results=residents, query=query, error="", marked=marked)
