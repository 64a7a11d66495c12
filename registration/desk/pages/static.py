"""The desk's stylesheet and script, and no favicon."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

routes = web.RouteTableDef()
STATIC = resources.files("registration.desk").joinpath("static")
STATIC_TYPES = {"desk.css": "text/css", "desk.js": "text/javascript"}


@routes.get("/favicon.ico")
async def favicon(request: web.Request) -> web.Response:
    return web.Response(status=204)


@routes.get("/static/{name}")
async def static(request: web.Request) -> web.Response:
    name = request.match_info["name"]
    if name not in STATIC_TYPES:
        raise web.HTTPNotFound()
    return web.Response(body=STATIC.joinpath(name).read_bytes(), content_type=STATIC_TYPES[name])
