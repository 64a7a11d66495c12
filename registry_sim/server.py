"""The registry sim's HTTP API (aiohttp): health, the full snapshot stream, fault-injection controls.

    GET  /health           {"status": "ok", "seq": n, "counts": {...}}
    GET  /snapshot         JSON Lines: header, households, residents, seals, tax records, end
    GET  /control/faults   the fault-injection state
    POST /control/faults   change it: {"snapshot_abort_after": n | null, "slow_ms": n, "down": bool}

Faults apply to every endpoint except ``/control/*``. Logs carry method, route pattern, status and time:
never a record, a query string or a key.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, Final

import orjson
from aiohttp import web

from registry_sim.faults import Faults
from registry_sim.linkage_file import end_line, header_line
from registry_sim.store import Snapshot, StoreReader

log = logging.getLogger("registry_sim")

STORE_KEY: Final = web.AppKey("registry_store", StoreReader)
FAULTS_KEY: Final = web.AppKey("registry_faults", Faults)
SNAPSHOT_CHUNK_BYTES: Final = 64 * 1024
NDJSON: Final = "application/x-ndjson"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_app(db_path: Path | str, faults: Faults | None = None) -> web.Application:
    """The registry sim application serving the store at ``db_path``."""
    app = web.Application(middlewares=[_access_log, _inject_faults])
    app[STORE_KEY] = StoreReader(db_path)
    app[FAULTS_KEY] = faults if faults is not None else Faults()
    app.router.add_get("/health", health)
    app.router.add_get("/snapshot", snapshot)
    app.router.add_get("/control/faults", get_faults)
    app.router.add_post("/control/faults", set_faults)
    return app


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


def _error(status: int, code: str, message: str) -> web.Response:
    return _json({"error": code, "message": message}, status)


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
async def _inject_faults(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path.startswith("/control/"):
        return await handler(request)
    faults = request.app[FAULTS_KEY]
    if faults.slow_ms:
        await asyncio.sleep(faults.slow_ms / 1000)
    if faults.down:
        return _error(503, "down", "the registry is down (fault injection)")
    return await handler(request)


async def health(request: web.Request) -> web.Response:
    store = request.app[STORE_KEY]
    if not store.exists():
        return _error(503, "no_data", "the registry database does not exist yet")
    seq, counts = await asyncio.to_thread(store.status)
    return _json({"status": "ok", "seq": seq, "counts": counts})


class _SnapshotCursor:
    """A snapshot opened and read on worker threads (one call at a time)."""

    def __init__(self, store: StoreReader, limit: int | None) -> None:
        self._cm = store.snapshot()
        self.snap: Snapshot = self._cm.__enter__()
        self._chunks: Iterator[bytes] = self.snap.lines(SNAPSHOT_CHUNK_BYTES, limit)

    def next_chunk(self) -> bytes | None:
        return next(self._chunks, None)

    def close(self) -> None:
        self._cm.__exit__(None, None, None)


async def snapshot(request: web.Request) -> web.StreamResponse:
    """Stream the whole store as JSON Lines in one consistent read."""
    store = request.app[STORE_KEY]
    if not store.exists():
        return _error(503, "no_data", "the registry database does not exist yet")
    limit = request.app[FAULTS_KEY].snapshot_abort_after
    cursor = await asyncio.to_thread(_SnapshotCursor, store, limit)
    response = web.StreamResponse(headers={"Content-Type": NDJSON, "Cache-Control": "no-store"})
    try:
        await response.prepare(request)
        await response.write(header_line(cursor.snap.seq))
        while (chunk := await asyncio.to_thread(cursor.next_chunk)) is not None:
            await response.write(chunk)
        if limit is not None and limit < sum(cursor.snap.counts.values()):
            await _drop_connection(request)
            return response
        await response.write(end_line(cursor.snap.streamed))
        await response.write_eof()
    except ConnectionError:
        log.info("snapshot client went away after %d records", sum(cursor.snap.streamed.values()))
    finally:
        await asyncio.to_thread(cursor.close)
    return response


async def _drop_connection(request: web.Request) -> None:
    """Close the connection once what was written has left, without ending the chunked body."""
    transport = request.transport
    if transport is None:
        return
    for _ in range(5000):
        if transport.is_closing() or transport.get_write_buffer_size() == 0:
            break
        await asyncio.sleep(0.001)
    transport.close()
    log.info(
        "snapshot aborted after %s records (fault injection)", request.app[FAULTS_KEY].snapshot_abort_after
    )


async def get_faults(request: web.Request) -> web.Response:
    return _json(request.app[FAULTS_KEY].as_dict())


async def set_faults(request: web.Request) -> web.Response:
    try:
        changes = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(400, "bad_json", "the body must be a JSON object")
    if not isinstance(changes, dict):
        return _error(400, "bad_json", "the body must be a JSON object")
    faults = request.app[FAULTS_KEY]
    try:
        faults.update(changes)
    except ValueError as exc:
        return _error(400, "bad_fault", str(exc))
    log.info("faults set: %s", faults.as_dict())
    return _json(faults.as_dict())


async def serve(db_path: Path | str, host: str, port: int, faults: Faults | None = None) -> None:
    """Run until SIGTERM or SIGINT; print the listening line once ready."""
    runner = web.AppRunner(make_app(db_path, faults), access_log=None, handle_signals=False)
    await runner.setup()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await web.TCPSite(runner, host, port).start()
        bound = runner.addresses[0][1] if runner.addresses else port
        shown_host = f"[{host}]" if ":" in host else host
        print(f"registry_sim listening on http://{shown_host}:{bound}", flush=True)
        await stop.wait()
        log.info("registry_sim stopping")
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await runner.cleanup()
