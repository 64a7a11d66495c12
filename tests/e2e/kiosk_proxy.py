"""A proxy between a kiosk and the server, for tests of what the kiosk does when the path between them
fails or lies. It holds the server's certificate and the kiosk's (a test's privilege) to sit inside both
TLS connections, and runs on a loop of its own in a thread."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Callable

import aiohttp
from aiohttp import web

from konbini_demo.processes import free_port
from konbini_demo.stack import Stack
from wire.kiosk_client import KioskCredentials
from wire.tls import server_context

PDF_PATH = re.compile(r"/certificates/([^/]+)/pdf$")


class KioskProxy:
    """Forwards every request to the server as it is; a subclass changes an answer in :meth:`answer`."""

    def __init__(self, stack: Stack) -> None:
        self.target = stack.server_url
        tls = stack.server_dir / "tls"
        self.server_ssl = server_context(tls / "server.crt", tls / "server.key")
        self.upstream_ssl = KioskCredentials.load(stack.kiosk_credentials).ssl_context()
        self.port = free_port()
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()
        self._ready.wait(5)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._forward)
        runner = web.AppRunner(app)
        self._loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", self.port, ssl_context=self.server_ssl)
        self._loop.run_until_complete(site.start())
        self._ready.set()
        self._loop.run_forever()

    async def _forward(self, request: web.Request) -> web.Response:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with (
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=self.upstream_ssl)) as http,
            http.request(
                request.method, self.target + request.path_qs, headers=headers, data=await request.read()
            ) as r,
        ):
            body = await r.read()
            return self.answer(request, r.status, body, r.content_type)

    def answer(self, request: web.Request, status: int, body: bytes, content_type: str) -> web.Response:
        return web.Response(status=status, body=body, content_type=content_type)


class LosingProxy(KioskProxy):
    """Answers the first issue request with 504 after the server has issued (the answer was lost on the
    way back)."""

    def __init__(self, stack: Stack) -> None:
        self.lost = 0
        self.issue_requests = 0
        super().__init__(stack)

    def answer(self, request: web.Request, status: int, body: bytes, content_type: str) -> web.Response:
        issue = request.method == "POST" and request.path.endswith("/certificates")
        self.issue_requests += issue
        if issue and self.lost == 0:
            self.lost += 1
            return web.Response(status=504, text="gateway timeout")
        return super().answer(request, status, body, content_type)


class TamperingProxy(KioskProxy):
    """Keeps every certificate PDF the server hands over (``pdfs``, by serial) and hands over instead what
    ``tamper(serial, pdf)`` makes of it, while one is set."""

    def __init__(self, stack: Stack) -> None:
        self.pdfs: dict[str, bytes] = {}
        self.tamper: Callable[[str, bytes], bytes] | None = None
        super().__init__(stack)

    def answer(self, request: web.Request, status: int, body: bytes, content_type: str) -> web.Response:
        found = PDF_PATH.search(request.path)
        if found is None or status != 200:
            return super().answer(request, status, body, content_type)
        serial = found[1]
        self.pdfs[serial] = body
        handed = body if self.tamper is None else self.tamper(serial, body)
        return web.Response(status=status, body=handed, content_type=content_type)
