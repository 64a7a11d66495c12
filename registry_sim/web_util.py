"""Small helpers of the sim's HTTP handlers: JSON answers, errors in the project's shape, request bodies."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson
from aiohttp import web

log = logging.getLogger("registry_sim")


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def error_response(status: int, code: str, message: str, **details: Any) -> web.Response:
    """``{"error": {"code": ..., "message": ..., **details}}``, as everywhere in konbini."""
    return json_response({"error": {"code": code, "message": message, **details}}, status)


class BadRequest(Exception):
    """A request body or parameter that is wrong; answered 400 with ``code``."""

    def __init__(self, message: str, code: str = "bad_request", **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.details = details

    def response(self) -> web.Response:
        return error_response(400, self.code, str(self), **self.details)


async def json_object(request: web.Request, *, empty_ok: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (``{}`` for an empty body when ``empty_ok``); ``BadRequest``."""
    raw = await request.read()
    if empty_ok and not raw.strip():
        return {}
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("the body must be a JSON object", "bad_json") from None
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", "bad_json")
    return body


async def drop_connection(request: web.Request, what: str) -> None:
    """Close the connection once what was written has left, without ending the body."""
    transport = request.transport
    if transport is None:
        return
    for _ in range(5000):
        if transport.is_closing() or transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    transport.close()
    log.info("%s aborted (fault injection)", what)
