"""``/feed``, ``/versions`` and ``/records``: what a follower of the registry reads besides the snapshot.

GET  /feed?after=<seq>&limit=<n>&epoch=<id>[&encoding=rows]
     200 {"epoch", "changes": [{"seq", "op", "t", "key", "version", "at", "record" (or "row")}...], "last_seq"}
     409 epoch_changed | seq_ahead | seq_expired;  400 bad_request
POST /versions {"keys": [[type, key], ...]}  -> 200 {"epoch", "seq", "versions": {"type/key": v | null}}
GET  /records/{type}/{key}                   -> 200 the record | 404 not_found
"""

from __future__ import annotations

import asyncio
from typing import Any, Final

from aiohttp import web

from registry_sim import garbage
from registry_sim.feed import DEFAULT_LIMIT, MAX_LIMIT, MAX_VERSION_KEYS, FeedRefusal
from registry_sim.sim import Sim
from registry_sim.web_util import BadRequest, drop_connection, error_response, json_object, json_response
from wire.linkage import RECORD_TYPES, ROWS

_INLINE_KEYS: Final = 64  # up to this many version lookups run on the event loop (microseconds each)


def add_routes(app: web.Application, key: web.AppKey[Sim]) -> None:
    async def feed_handler(request: web.Request) -> web.StreamResponse:
        return await feed(request, request.app[key])

    async def versions_handler(request: web.Request) -> web.Response:
        return await versions(request, request.app[key])

    async def record_handler(request: web.Request) -> web.Response:
        return await record(request, request.app[key])

    app.router.add_get("/feed", feed_handler)
    app.router.add_post("/versions", versions_handler)
    app.router.add_get("/records/{type}/{key}", record_handler)


def _int_param(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise BadRequest(f"'{name}' must be an integer") from None


async def feed(request: web.Request, sim: Sim) -> web.StreamResponse:
    try:
        after = _int_param(request, "after", 0)
        limit = min(_int_param(request, "limit", DEFAULT_LIMIT), MAX_LIMIT)
        if after < 0 or limit < 1:
            raise BadRequest("'after' must be >= 0 and 'limit' >= 1")
    except BadRequest as exc:
        return exc.response()
    epoch = request.query.get("epoch") or None
    rows = request.query.get("encoding") == ROWS
    try:
        page = await asyncio.to_thread(sim.reader.page, after, limit, epoch, rows)
    except FeedRefusal as refusal:
        return error_response(409, refusal.code, refusal.message, **refusal.details)
    faults = sim.faults
    if faults.garbage:
        return web.Response(
            body=garbage.feed_body(faults.garbage, page, after, rows), content_type="application/json"
        )
    cut = faults.feed_abort_after
    if cut is not None and cut < len(page.entries):
        body = page.body()
        partial = page.body(page.entries[:cut])
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        await response.write(partial[: partial.rindex(b"]")] + (b"," if cut else b""))
        await drop_connection(request, f"feed after {cut} changes")
        return response
    return web.Response(body=page.body(), content_type="application/json")


def _version_keys(body: dict[str, Any]) -> list[tuple[str, str]]:
    keys = body.get("keys")
    if not isinstance(keys, list) or len(keys) > MAX_VERSION_KEYS:
        raise BadRequest(f"'keys' must be a list of at most {MAX_VERSION_KEYS} [type, key] pairs")
    out = []
    for item in keys:
        if (
            not isinstance(item, list)
            or len(item) != 2
            or item[0] not in RECORD_TYPES
            or not isinstance(item[1], str)
        ):
            raise BadRequest(f"each key must be [type, key] with type one of {', '.join(RECORD_TYPES)}")
        out.append((item[0], item[1]))
    return out


async def versions(request: web.Request, sim: Sim) -> web.Response:
    try:
        keys = _version_keys(await json_object(request))
    except BadRequest as exc:
        return exc.response()
    if len(keys) <= _INLINE_KEYS:
        answer = sim.reader.versions(keys)
    else:
        answer = await asyncio.to_thread(sim.reader.versions, keys)
    if sim.faults.garbage:
        return web.Response(
            body=garbage.versions_body(sim.faults.garbage, answer), content_type="application/json"
        )
    return json_response(answer)


async def record(request: web.Request, sim: Sim) -> web.Response:
    body = sim.reader.record(request.match_info["type"], request.match_info["key"])
    if body is None:
        return error_response(404, "not_found", "no such record")
    return web.Response(body=body, content_type="application/json")
