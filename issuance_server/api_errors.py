"""JSON errors with stable codes, request-body parsing and the middleware that keeps input from causing 500s."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from issuance_server.storage.engine import DatabaseUnavailable, StorageFull
from wire.kiosk_api import ErrorCode

log = logging.getLogger("konbini.api")


class ClientGone(Exception):
    """The client closed the connection before its request was whole."""


RETRY_AFTER_S = 5  # what a 503 for an unreachable database asks the client to wait
ECHO_CHARS = 80  # the most of a request's own text an error message repeats
MESSAGE_CHARS = 300  # the longest message: a backstop for text that reached one without clip()


def clip(value: object, limit: int = ECHO_CHARS) -> str:
    """``value`` as text for an error message, cut to ``limit`` characters with an ellipsis: every message
    that repeats request input (a field's value, a path segment, a parser's complaint) passes it here."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, **details: Any) -> None:
        message = clip(message, MESSAGE_CHARS)
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details

    def response(self) -> web.Response:
        body = {"error": {"code": self.code, "message": self.message, **self.details}}
        response = web.Response(status=self.status, body=orjson.dumps(body), content_type="application/json")
        if "retry_after_s" in self.details:
            response.headers["Retry-After"] = str(self.details["retry_after_s"])
        if self.status == 408:
            response.force_close()  # the rest of a late body must not be read as the next request
        return response


def json_response(data: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(data), content_type="application/json")


BODY_TIMEOUT: web.AppKey[float] = web.AppKey("body_timeout_s", float)


async def read_json(request: web.Request, max_bytes: int) -> dict[str, Any]:
    """The request's JSON object, or an ApiError for a body that is too large, not JSON, or not an object,
    or that does not arrive whole within the app's ``BODY_TIMEOUT``."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(413, ErrorCode.BODY_TOO_LARGE, f"request body over {max_bytes} bytes")
    timeout_s = request.config_dict.get(BODY_TIMEOUT, 10.0)
    chunks, size = [], 0
    try:
        async with asyncio.timeout(timeout_s):
            while chunk := await request.content.read(
                max_bytes + 1 - size
            ):  # it may come in several segments
                chunks.append(chunk)
                size += len(chunk)
                if size > max_bytes:
                    raise ApiError(413, ErrorCode.BODY_TOO_LARGE, f"request body over {max_bytes} bytes")
    except TimeoutError:
        raise ApiError(
            408, "body_timeout", f"the request body did not arrive within {timeout_s:g} s"
        ) from None
    except (ConnectionError, aiohttp.ClientPayloadError) as exc:
        raise ClientGone(f"the client went away during the body ({type(exc).__name__})") from None
    raw = b"".join(chunks)
    try:
        data = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise ApiError(400, ErrorCode.BAD_JSON, "request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, ErrorCode.BAD_JSON, "request body must be a JSON object")
    return data


def field(data: dict[str, Any], name: str, typ: type, *, required: bool = True, default: Any = None) -> Any:
    """One typed field of a JSON body (bool is not accepted as int)."""
    if name not in data or data[name] is None:
        if required:
            raise ApiError(400, ErrorCode.BAD_FIELD, f"field '{name}' is required", field=name)
        return default
    value = data[name]
    if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
        raise ApiError(400, ErrorCode.BAD_FIELD, f"field '{name}' must be {typ.__name__}", field=name)
    return value


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def route_of(request: web.BaseRequest) -> str:
    """The route template a request matched (``/clerk/api/residents/{atena_no}/mynumber``), for logs: never
    the concrete path, which may name a resident; ``(no route)`` when none matched."""
    match = request.match_info if isinstance(request, web.Request) else None
    resource = match.route.resource if match is not None else None
    return resource.canonical if resource is not None else "(no route)"


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except StorageFull:  # nothing was changed; the disk must be freed: ops see it in the log
        log.error("%s %s: the disk is full; nothing was changed", request.method, route_of(request))
        return ApiError(
            503, ErrorCode.STORAGE_FULL, "the server's disk is full; nothing was changed; try again later",
            retry_after_s=RETRY_AFTER_S,
        ).response()  # fmt: skip
    except DatabaseUnavailable:  # nothing was changed (a trip commits whole or not at all): try again
        log.warning("%s %s: the database is unavailable", request.method, route_of(request))
        return ApiError(
            503, ErrorCode.SERVICE_UNAVAILABLE, "the database cannot be reached; try again shortly",
            retry_after_s=RETRY_AFTER_S,
        ).response()  # fmt: skip
    except ClientGone as exc:  # nobody is left to answer: one line, no traceback
        log.info("%s %s: %s", request.method, route_of(request), exc)
        return ApiError(400, "client_gone", str(exc)).response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = {
            404: ErrorCode.NOT_FOUND,
            405: ErrorCode.METHOD_NOT_ALLOWED,
            413: ErrorCode.BODY_TOO_LARGE,
        }.get(exc.status, f"http_{exc.status}")
        response = ApiError(exc.status, code, exc.reason).response()
        if "Allow" in exc.headers:  # a 405 says which methods the resource has (RFC 9110)
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except Exception:
        log.exception("internal error on %s %s", request.method, route_of(request))
        return ApiError(500, "internal_error", "internal error; the incident was logged").response()
