"""The registry sim's HTTP API (aiohttp). ``docs/linkage-format.md`` describes every endpoint for test authors.

    GET  /health                 {"status": "ok", "epoch", "seq", "counts"}
    GET  /snapshot               JSON Lines: header (epoch, seq), households, residents, seals, tax, end
    GET  /feed?after=&limit=&epoch=   changes after a seq            (feed_api)
    POST /versions               current versions of some records    (feed_api)
    GET  /records/{type}/{key}   one current record                  (feed_api)
    /control/faults, /control/apply, /control/gap, /control/reset, /control/generate   (control_api)

Over TLS (the default of ``konbini-registry serve``) every endpoint but ``/crl/`` needs the link's client
certificate. Faults apply to every endpoint except ``/control/*``. Logs carry method, route pattern, status and time:
never a record, a query string or a key.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import ssl
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Final

from aiohttp import web

from registry_sim import control_api, feed_api, garbage
from registry_sim.changelog import StoreMissing
from registry_sim.faults import Faults
from registry_sim.linkage_file import end_line, header_line
from registry_sim.sim import Sim
from registry_sim.store import Snapshot, StoreReader
from registry_sim.web_util import drop_connection, error_response, json_response
from wire.linkage import ROWS
from wire.serving import start_site, until_stopped
from wire.tls import peer_certificate

log = logging.getLogger("registry_sim")

SIM_KEY: Final = web.AppKey("registry_sim", Sim)
SNAPSHOT_CHUNK_BYTES: Final = 256 * 1024
NDJSON: Final = "application/x-ndjson"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(
    db_path: Path | str,
    faults: Faults | None = None,
    *,
    keep_changes: int = 0,
    generate_rate: float = 0,
    generate_seed: int = 1,
    card_crl: Path | None = None,
    phone_crl: Path | None = None,
) -> web.Application:
    """The registry sim application serving the store at ``db_path``.

    ``keep_changes``: keep only that many latest changes in the log (0: all); ``generate_rate``: start the
    change generator at that many changes a second.
    """
    app = web.Application(
        middlewares=[_access_log, _client_certificate, _inject_faults], client_max_size=64 * 1024 * 1024
    )
    sim = Sim(db_path, faults, keep_changes)
    app[SIM_KEY] = sim
    app.router.add_get("/health", health)
    app.router.add_get("/snapshot", snapshot)

    def published(path: Path | None, what: str) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def crl(request: web.Request) -> web.Response:
            """A CA's CRL (registry_sim stands in for J-LIS, which publishes the real ones)."""
            if path is None or not path.exists():
                raise web.HTTPNotFound(text=f"no {what} CRL is published here")
            return web.Response(body=path.read_bytes(), content_type="application/pkix-crl")

        return crl

    app.router.add_get("/crl/card-ca.crl", published(card_crl, "card"))
    app.router.add_get("/crl/phone-ca.crl", published(phone_crl, "smartphone"))
    feed_api.add_routes(app, SIM_KEY)
    control_api.add_routes(app, SIM_KEY)

    async def on_startup(_: web.Application) -> None:
        await sim.open()
        if generate_rate > 0:
            await sim.churn.start(generate_rate, None, generate_seed)

    async def on_cleanup(_: web.Application) -> None:
        await sim.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    return app


@web.middleware
async def _access_log(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.monotonic()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(no route)"
        log.info("%s %s %d %.1fms", request.method, route, status, (time.monotonic() - started) * 1000)


@web.middleware
async def _client_certificate(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Over TLS, everything but the published CRL needs the link's client certificate (the handshake has
    verified any certificate presented against the registry's CA)."""
    if request.secure and not request.path.startswith("/crl/"):
        transport = request.transport
        if peer_certificate(transport.get_extra_info("ssl_object") if transport else None) is None:
            return error_response(
                403, "client_certificate_required", "present the link's client certificate (link-client.crt)"
            )
    return await handler(request)


@web.middleware
async def _inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/control/"):
        return await handler(request)
    faults = request.app[SIM_KEY].faults
    if faults.slow_ms:
        await asyncio.sleep(faults.slow_ms / 1000)
    if faults.is_down():
        return error_response(503, "down", "the registry is down (fault injection)")
    try:
        return await handler(request)
    except StoreMissing:
        return error_response(503, "no_data", "the registry database does not exist yet")


async def health(request: web.Request) -> web.Response:
    epoch, seq, counts = request.app[SIM_KEY].reader.state()
    return json_response({"status": "ok", "epoch": epoch, "seq": seq, "counts": counts})


class _SnapshotCursor:
    """A snapshot opened and read on worker threads, one call at a time: ``close`` waits for a read still
    running (the handler may be cancelled while its thread reads), then ends the reads and the connection.
    Closing the SQLite connection under a running cursor crashes the process."""

    def __init__(self, store: StoreReader, limit: int | None, rows: bool) -> None:
        self._cm = store.snapshot()
        self.snap: Snapshot = self._cm.__enter__()
        self._lock = threading.Lock()
        self._closed = False
        self._chunks: Iterator[bytes] = self.snap.lines(SNAPSHOT_CHUNK_BYTES, limit, rows)

    def next_chunk(self) -> bytes | None:
        with self._lock:
            if self._closed:
                return None
            gc.disable()  # a chunk is thousands of short-lived rows: nothing for the cycle collector
            try:
                return next(self._chunks, None)
            finally:
                gc.enable()

    def close(self) -> None:
        with self._lock:
            self._closed = True
            close_chunks = getattr(self._chunks, "close", None)
            if close_chunks is not None:
                close_chunks()  # the generator's cursors end before their connection
            self._cm.__exit__(None, None, None)


async def snapshot(request: web.Request) -> web.StreamResponse:
    """Stream the whole store as JSON Lines in one consistent read (header seq = last change included)."""
    sim = request.app[SIM_KEY]
    if not sim.store.exists():
        return error_response(503, "no_data", "the registry database does not exist yet")
    limit = sim.faults.snapshot_abort_after
    bad = sim.faults.garbage
    rows = request.query.get("encoding") == ROWS  # the compact encoding, when the reader asks for it
    cursor = await asyncio.to_thread(_SnapshotCursor, sim.store, limit, rows)
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    try:
        await response.prepare(request)
        await response.write(header_line(cursor.snap.seq, cursor.snap.epoch, cursor.snap.counts, rows))
        extra: str | None = None
        if bad:
            line, extra = garbage.snapshot_line(bad, rows)
            await response.write(line)
        while (chunk := await asyncio.to_thread(cursor.next_chunk)) is not None:
            await response.write(chunk)
        if limit is not None and limit < sum(cursor.snap.counts.values()):
            await drop_connection(request, f"snapshot after {limit} records")
            return response
        counts = dict(cursor.snap.streamed)
        if extra:
            counts[extra] += 1
        await response.write(end_line(counts))
        await response.write_eof()
    except ConnectionError:
        log.info("snapshot client went away after %d records", sum(cursor.snap.streamed.values()))
    finally:
        await asyncio.to_thread(cursor.close)
    return response


async def serve(
    db_path: Path | str,
    host: str,
    port: int,
    faults: Faults | None = None,
    *,
    keep_changes: int = 0,
    generate_rate: float = 0,
    generate_seed: int = 1,
    card_crl: Path | None = None,
    phone_crl: Path | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> None:
    """Run until SIGTERM or SIGINT (HTTPS with ``ssl_context``); print the listening line once ready."""
    app = make_app(
        db_path,
        faults,
        keep_changes=keep_changes,
        generate_rate=generate_rate,
        generate_seed=generate_seed,
        card_crl=card_crl,
        phone_crl=phone_crl,
    )
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await start_site(runner, host, port, ssl_context)
        bound = runner.addresses[0][1] if runner.addresses else port
        shown_host = f"[{host}]" if ":" in host else host
        scheme = "https" if ssl_context is not None else "http"
        print(f"registry_sim listening on {scheme}://{shown_host}:{bound}", flush=True)
        await until_stopped()
        log.info("registry_sim stopping")
    finally:
        await runner.cleanup()
