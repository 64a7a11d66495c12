"""Full snapshot sync from the main registry into a new replica generation, all or nothing.

The stream is read, parsed and written in a worker thread (its own HTTP connection and SQLite file), so
the event loop keeps serving kiosks. The new generation is switched in only after the ``end`` line arrived
and every count matched; on any failure the file is discarded and the current replica stays as it was.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import ssl
import time
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any, Final, Protocol

import orjson

from issuance_server.audit.trail import SYSTEM, Actor
from issuance_server.cluster.nodes import remove_when_unread
from issuance_server.core import ServerCore
from issuance_server.process_memory import release_free_memory
from issuance_server.replica import store as replica_store
from issuance_server.replica.generations import GenerationWriter
from issuance_server.replica.store import ReplicaBuildError
from issuance_server.storage.engine import Tx
from wire.clock import utc_now_iso
from wire.linkage import FIELDS_BY_TYPE, FORMAT, RECORD_TYPES, ROW_FIELDS, ROWS, format_problem

BATCH = 20_000
CHUNK = 1 << 20
READ_BYTES: Final = 256 * 1024


class SyncError(Exception):
    """Why a sync failed, in words ops can act on."""


@dataclass
class SyncProgress:
    state: str = "idle"  # idle, running, done, failed
    started_at: str | None = None
    finished_at: str | None = None
    bytes_read: int = 0
    records: int = 0
    expected: int | None = None  # total records: from the header's counts, else once the end line arrives
    registry_counts: dict[str, int] = field(default_factory=dict)
    seq: int | None = None
    error: str | None = None
    seconds: float | None = None
    timings: dict[str, float] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _open_stream(
    base_url: str, timeout_s: float, context: ssl.SSLContext | None
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    url = urllib.parse.urlsplit(base_url.rstrip("/") + f"/snapshot?encoding={ROWS}")
    host = url.hostname or "127.0.0.1"
    conn = (
        http.client.HTTPSConnection(host, url.port, timeout=timeout_s, context=context)
        if url.scheme == "https"
        else http.client.HTTPConnection(host, url.port, timeout=timeout_s)
    )
    try:
        conn.request("GET", f"{url.path}?{url.query}")
        resp = conn.getresponse()
    except OSError as exc:
        conn.close()
        raise SyncError(f"cannot reach the registry at {base_url}: {exc}") from exc
    if resp.status != 200:
        conn.close()
        raise SyncError(f"the registry answered HTTP {resp.status} to /snapshot")
    return conn, resp


class RecordSink(Protocol):
    """Where snapshot rows go: a new replica generation, or a digest for the consistency check. ``insert``
    takes rows of values; ``insert_rows`` ``count`` lines of the rows encoding as received (newline-separated)."""

    counts: dict[str, int]

    def insert(self, rtype: str, rows: Sequence[Sequence[Any]]) -> None: ...

    def insert_rows(self, rtype: str, data: bytes, count: int) -> None: ...


# Where a run of each type's rows ends: the next line that is not a row of that type.
_RUN_END: Final = {t: re.compile(rb'\n(?!\["' + re.escape(t.encode()) + rb'")') for t in RECORD_TYPES}


def _row_type(line: bytes) -> str | None:
    """The type of a line of the rows encoding (``["tax", ...``), or None for any other line."""
    if not line.startswith(b'["'):
        return None
    end = line.find(b'"', 2)
    return line[2:end].decode() if end > 2 else None


def load_snapshot(
    base_url: str,
    timeout_s: float,
    writer: RecordSink,
    progress: SyncProgress,
    context: ssl.SSLContext | None = None,
) -> dict[str, Any]:
    """Stream the snapshot into ``writer`` (over TLS with ``context`` for an https:// registry); return
    the header. Raises SyncError when incomplete or malformed."""
    conn, resp = _open_stream(base_url, timeout_s, context)
    columns = {t: tuple(FIELDS_BY_TYPE[t]) for t in RECORD_TYPES}
    batches: dict[str, list[Any]] = {t: [] for t in RECORD_TYPES}  # rows, or blocks of the rows encoding
    pending = dict.fromkeys(RECORD_TYPES, 0)  # records in each type's batch
    header: dict[str, Any] | None = None
    end: dict[str, Any] | None = None
    rows = False  # the registry answers in the rows encoding (its header says so)
    tail = b""
    t_parse = t_write = 0.0

    def control(line: bytes) -> None:
        """A line that is not a row: the header, the end line, or (objects) a record."""
        nonlocal header, end, rows
        if end is not None:
            raise SyncError("the snapshot has data after its end line")
        try:
            rec = orjson.loads(line)
            rtype = rec["t"]
            if rtype in batches:
                if rows:
                    raise SyncError(f"malformed record after {progress.records} records: not a row")
                batches[rtype].append(tuple([rec[c] for c in columns[rtype]]))
                pending[rtype] += 1
                progress.records += 1
                return
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise SyncError(f"malformed record after {progress.records} records: {exc!r}") from exc
        if rtype == "header":
            problem = format_problem(rec.get("format"))
            if problem:
                raise SyncError(problem)
            header = rec
            rows = rec.get("encoding") == ROWS
            if rows and rec.get("fields") != ROW_FIELDS:
                raise SyncError("the snapshot's rows do not list the fields of this format in its order")
            counts = rec.get("counts")
            if isinstance(counts, dict) and all(isinstance(n, int) for n in counts.values()):
                progress.expected = sum(counts.values())  # how far the sync is, as it goes
        elif rtype == "end":
            end = rec
        else:
            raise SyncError(f"unknown record type {rtype!r}")

    def take_rows(block: bytes, size: int) -> None:
        """Whole lines of the rows encoding (newline-separated) go to their type's batch as they are, a run
        of one type at a time (the registry interleaves the types in runs); the runs' ends are found by
        searching, never line by line (one regular expression per run). A line that is not a row is read
        line by line."""
        if header is None or end is not None:
            raise SyncError("the snapshot has a record outside its header and end line")
        pos = 0
        while pos < size:
            rtype = _row_type(block[pos : pos + 24])
            if rtype not in batches:
                for line in block[pos:size].split(b"\n"):
                    if line:
                        control(line)
                return
            found = _RUN_END[rtype].search(block, pos, size)
            stop = found.start() if found else size
            run = block[pos:stop]
            n = run.count(b"\n") + 1
            batches[rtype].append(run)
            pending[rtype] += n
            progress.records += n
            pos = stop + 1

    try:
        while True:
            parts = [tail]  # a TLS read is at most 16 KiB: a few hundred KiB are taken at a time
            size = 0
            while size < READ_BYTES:
                try:
                    chunk = resp.read1(CHUNK)
                except (OSError, http.client.HTTPException) as exc:
                    raise SyncError(
                        f"the registry connection broke after {progress.records} records: {exc}"
                    ) from exc
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
            if not size:
                break
            progress.bytes_read += size
            data = b"".join(parts)
            cut = data.rfind(b"\n") + 1
            tail = data[cut:]
            t0 = time.perf_counter()
            if rows and cut > 1 and not data.startswith((b"{", b"\n")) and data.find(b"\n{", 0, cut) < 0:
                take_rows(data, cut - 1)
            else:
                for line in data[:cut].split(b"\n"):
                    if not line:
                        continue
                    if rows and line.startswith(b"["):
                        take_rows(line, len(line))
                    else:
                        control(line)
            t1 = time.perf_counter()
            t_parse += t1 - t0
            for rtype, batch in batches.items():
                if pending[rtype] >= BATCH:
                    _insert(writer, rtype, batch, pending[rtype], rows)
                    batch.clear()
                    pending[rtype] = 0
            t_write += time.perf_counter() - t1
    finally:
        conn.close()
    if tail.strip():
        raise SyncError(f"the snapshot ended in the middle of a line after {progress.records} records")
    t1 = time.perf_counter()
    for rtype, batch in batches.items():
        if batch:
            _insert(writer, rtype, batch, pending[rtype], rows)
    t_write += time.perf_counter() - t1
    progress.timings.update(parse_s=round(t_parse, 3), write_s=round(t_write, 3))
    if header is None or header.get("format") != FORMAT:
        raise SyncError(f"the stream is not a {FORMAT} snapshot (header missing or wrong)")
    if end is None:
        raise SyncError(
            f"the snapshot stopped after {progress.records} records without its end line (incomplete)"
        )
    counts = end.get("counts") or {}
    if counts != writer.counts:
        raise SyncError(f"the snapshot's counts {counts} differ from the records received {writer.counts}")
    progress.registry_counts = counts
    return header


def _insert(writer: RecordSink, rtype: str, batch: list[Any], count: int, rows: bool) -> None:
    if not rows:
        writer.insert(rtype, batch)
        return
    try:
        writer.insert_rows(rtype, b"\n".join(batch), count)
    except ReplicaBuildError as exc:
        raise SyncError(str(exc)) from exc


class SnapshotSync:
    """One full sync at a time per server."""

    def __init__(self, core: ServerCore, fence: Callable[[Tx], None]) -> None:
        self.core = core
        self.fence = fence  # the registry lease's: the new generation is switched in only by its holder
        self._removals: set[asyncio.Task[None]] = set()
        self.progress = SyncProgress()
        self._task: asyncio.Task[SyncProgress] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self, actor: Actor = SYSTEM) -> bool:
        """Start a full sync in the background; False if one is already running."""
        if self.running:
            return False
        self.progress = SyncProgress(state="running", started_at=utc_now_iso())
        self._task = asyncio.get_running_loop().create_task(self.run(actor))
        return True

    async def wait(self) -> SyncProgress:
        if self._task is not None:
            await asyncio.shield(self._task)
        return self.progress

    async def run(self, actor: Actor = SYSTEM) -> SyncProgress:
        core, progress = self.core, self.progress
        progress.state = "running"
        started, cpu0 = time.perf_counter(), time.process_time()
        stamp = utc_now_iso().replace(":", "").replace("-", "").replace(".", "")
        name = core.replica.new_generation(stamp)
        await core.audit.append(actor, "sync_full", "started")
        writer: GenerationWriter | None = None
        try:
            writer = core.replica.writer(name)
            header = await asyncio.to_thread(
                load_snapshot,
                core.settings.registry_url,
                core.settings.snapshot_timeout_s,
                writer,
                progress,
                core.registry_ssl,
            )
            t1 = time.perf_counter()
            seq = int(header.get("seq", 0))
            as_of = str(header.get("generated_at") or utc_now_iso())
            meta = {
                "seq": str(seq),
                "as_of": as_of,
                "format": FORMAT,
                "epoch": str(header.get("epoch") or ""),
            }
            try:
                await asyncio.to_thread(writer.finish, meta)
            except ReplicaBuildError as exc:
                raise SyncError(str(exc)) from exc
            previous = await core.replica.switch_to(name, seq, as_of, utc_now_iso(), self.fence)
            built, writer = writer, None  # the file is the replica now: nothing below may discard it
            progress.timings["finish_s"] = round(time.perf_counter() - t1, 3)
            progress.timings.update(built.timings, server_cpu_s=round(time.process_time() - cpu0, 3))
            progress.seq = seq
            _ended(progress, started)
            progress.state = "done"  # last: whoever sees it sees the whole outcome
            if previous and previous != name:  # removed once no node reads it, in the background
                removal = asyncio.get_running_loop().create_task(remove_when_unread(core, previous))
                self._removals.add(removal)
                removal.add_done_callback(self._removals.discard)
            await core.audit.append(actor, "sync_full", "ok", records=progress.records, seq=seq)
        except Exception as exc:  # any failure: keep the current replica, say why
            if writer is not None:
                writer.discard()
            reason = str(exc) if isinstance(exc, SyncError) else f"{type(exc).__name__}: {exc}"
            _ended(progress, started)
            progress.state, progress.error = "failed", reason
            await core.db.write(partial(replica_store.set_sync_error, reason=reason))
            await core.audit.append(actor, "sync_full", "failed", reason=reason[:200])
        finally:
            # The build's page cache (freed when the writer closed) goes back to the OS, not kept.
            await asyncio.to_thread(release_free_memory)
        return progress


def _ended(progress: SyncProgress, started: float) -> None:
    progress.finished_at = utc_now_iso()
    progress.seconds = round(time.perf_counter() - started, 3)
