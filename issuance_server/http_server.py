"""Running the app: the listener (TLS), timeouts, and aiohttp's own answers to malformed HTTP.

A request that cannot be parsed (a request line or header over 8 KB, bad syntax) never reaches the app's
middlewares; aiohttp would answer it in plain text quoting the request, log the request's text with a
traceback and name its version. Here such an answer is the same JSON error as everywhere
(``bad_request``, ``request_too_large``), the log line says only the status and the kind of fault, and
the headers are the app's (no-store, nosniff, no version banner).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from issuance_server.api_errors import ApiError, route_of
from issuance_server.connection_gate import ConnectionGate, GatedSite
from issuance_server.thread_names import named_pool
from wire.serving import start_listening, until_stopped

log = logging.getLogger("konbini.http")

BACKLOG = 1024  # connections the kernel queues before the server accepts them (a flood is closed fast)
ANSWER_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Server": "konbini"}


class RouteAccessLogger(AbstractAccessLogger):
    """One line a request: method, route template (never the path or query, which may name a resident),
    status, time."""

    def log(self, request: BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info("%s %s %s %.1fms", request.method, route_of(request), response.status, time * 1000)


class _JsonErrors(RequestHandler):
    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        fault = type(exc).__name__ if exc is not None else "-"
        if status >= 500:
            log.error("%d answering a request from %s (%s)", status, request.remote, fault)
        else:
            log.info("%d to a malformed request from %s (%s)", status, request.remote, fault)
        too_large = "TooLong" in fault or status in (413, 414, 431)
        code = "request_too_large" if too_large else "bad_request" if status < 500 else "internal_error"
        text = {
            "request_too_large": "the request line or a header is over 8 KB",
            "bad_request": "the request is not well-formed HTTP",
        }.get(code, "internal error; the incident was logged")
        response = ApiError(status, code, text).response()
        response.headers.update(ANSWER_HEADERS)
        response.force_close()
        return response


class _Server(web.Server):
    def __call__(self) -> RequestHandler:
        return _JsonErrors(self, loop=self._loop, **self._kwargs)


class KonbiniRunner(web.AppRunner):
    """An :class:`~aiohttp.web.AppRunner` whose connections answer malformed HTTP with JSON errors."""

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _Server  # same state, one method differs
        return server


def serve(
    app: web.Application,
    host: str,
    port: int,
    ssl_context: ssl.SSLContext | None,
    keepalive_timeout: float,
    ready: Callable[[], Any],
    gate: ConnectionGate,
    **runner_kwargs: Any,
) -> None:
    """Run until SIGTERM or SIGINT, calling ``ready`` once listening; connections pass ``gate``."""

    async def run() -> None:
        asyncio.get_running_loop().set_default_executor(named_pool(None, "asyncio"))  # to_thread's threads
        runner = KonbiniRunner(
            app, handle_signals=False, keepalive_timeout=keepalive_timeout, **runner_kwargs
        )
        await runner.setup()
        try:
            await start_listening(
                GatedSite(runner, host, port, gate, ssl_context=ssl_context, backlog=BACKLOG), host, port
            )
            ready()
            await until_stopped()
        finally:
            await runner.cleanup()

    asyncio.run(run())
