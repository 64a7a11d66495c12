"""The home page: finding a resident."""

from __future__ import annotations

from aiohttp import web

from registration.desk.rendering import page
from registration.desk.staff_calls import call, error_text
from wire.http_json import HttpError

routes = web.RouteTableDef()


@routes.get("/")
async def home(request: web.Request) -> web.Response:
    return page(request, "search.html", results=None, query={}, error="")


@routes.post("/search")
async def search(request: web.Request) -> web.Response:
    form = await request.post()
    query = {k: str(form.get(k, "")).strip() for k in ("kana", "atena_no", "birth_date")}
    try:
        found = await call(
            request, "GET", "/clerk/api/residents", query={k: v for k, v in query.items() if v}
        )
    except HttpError as exc:
        return page(request, "search.html", 400, results=None, query=query, error=error_text(exc))
    return page(request, "search.html", results=found["residents"], query=query, error="")
