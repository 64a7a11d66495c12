"""The server's listener, with a gate before TLS: a cap on open connections, one per source address, and a
short handshake.

Each TLS connection costs memory from its first byte (the TLS object and its buffers, ~0.3 MiB), so a
flood of connections that never finish their handshake exhausted memory while the cap of asyncio's own
listener applied only after it. Here every accepted TCP connection is counted at once: over
``max_connections`` in all, or ``max_connections_per_source`` from one address, it is closed before TLS
starts (nothing allocated); otherwise TLS starts with ``tls_handshake_timeout_s``. The count falls when
the connection ends, however it ends. Behind a TLS proxy (``plain_http``) the per-source cap is off: every
connection comes from the proxy, whose own ``maxconn`` and source limits apply (docs/deploy.md).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

log = logging.getLogger("konbini.http")


@dataclass
class GateLimits:
    max_connections: int
    max_per_source: int | None  # None: no per-source cap
    handshake_timeout_s: float


@dataclass
class ConnectionGate:
    limits: GateLimits
    open: int = 0
    by_source: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    _warned: bool = False

    def admit(self, source: str) -> bool:
        per_source = self.by_source.get(source, 0)
        over_source = self.limits.max_per_source is not None and per_source >= self.limits.max_per_source
        if self.open >= self.limits.max_connections or over_source:
            self.refused += 1
            if not self._warned:  # once a flood: the count is in /metrics
                log.warning("connection cap reached (%d open, %d from %s): closing new connections before TLS",
                            self.open, per_source, source)  # fmt: skip
                self._warned = True
            return False
        self.open += 1
        self.by_source[source] = per_source + 1
        return True

    def release(self, source: str) -> None:
        self.open -= 1
        left = self.by_source[source] - 1
        if left:
            self.by_source[source] = left
        else:
            del self.by_source[source]
        if self.open < self.limits.max_connections // 2:
            self._warned = False


class _Ticket:
    """One admitted connection: released once, whichever way it ends."""

    def __init__(self, gate: ConnectionGate, source: str) -> None:
        self._gate, self._source, self._held = gate, source, True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate.release(self._source)


class _Counted(asyncio.Protocol):
    """The app's protocol (aiohttp's request handler), releasing the ticket when the connection ends."""

    def __init__(self, inner: asyncio.Protocol, ticket: _Ticket) -> None:
        self._inner, self._ticket = inner, ticket

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self._ticket.release()
        self._inner.connection_lost(exc)


class _Gate(asyncio.Protocol):
    """A new TCP connection: admitted (then TLS, then the app) or closed at once."""

    def __init__(
        self, gate: ConnectionGate, app: Callable[[], asyncio.Protocol], context: ssl.SSLContext | None
    ):
        self._gate, self._app, self._context = gate, app, context
        self._ticket: _Ticket | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)  # noqa: S101  an invariant that narrows a type, not a check of input
        peer = transport.get_extra_info("peername")
        source = str(peer[0]) if peer else ""
        if not self._gate.admit(source):
            transport.abort()
            return
        self._ticket = _Ticket(self._gate, source)
        counted = _Counted(self._app(), self._ticket)
        if self._context is None:
            transport.set_protocol(counted)
            counted.connection_made(transport)
            return
        transport.pause_reading()  # the handshake's first bytes wait in the socket for TLS
        asyncio.get_running_loop().create_task(self._start_tls(transport, counted))

    async def _start_tls(self, transport: asyncio.Transport, counted: _Counted) -> None:
        assert self._ticket is not None and self._context is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        try:
            tls = await asyncio.get_running_loop().start_tls(
                transport, counted, self._context, server_side=True,
                ssl_handshake_timeout=self._gate.limits.handshake_timeout_s,
            )  # fmt: skip
        except (OSError, ssl.SSLError, TimeoutError, ConnectionError, RuntimeError):
            transport.abort()
            self._ticket.release()
            return
        if tls is None:  # the connection closed during the handshake
            self._ticket.release()
            return
        counted.connection_made(tls)

    def connection_lost(self, exc: Exception | None) -> None:  # only before TLS took the connection over
        if self._ticket is not None:
            self._ticket.release()


class GatedSite(web.TCPSite):
    """aiohttp's TCP site with the gate in front (TLS started by the gate, not by the listener)."""

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, gate: ConnectionGate, **kwargs: Any
    ) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.gate = gate

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        context = self._ssl_context
        self._server = await loop.create_server(
            lambda: _Gate(self.gate, server, context), self._host, self._port, backlog=self._backlog,
            reuse_address=self._reuse_address,
        )  # fmt: skip
        self._bound_port = self._server.sockets[0].getsockname()[1] if self._server.sockets else self._port
