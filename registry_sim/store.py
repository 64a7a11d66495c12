"""The registry sim's SQLite store: every linkage record as its encoded JSON line, plus a change sequence.

Tables: ``records(type, key, version, seq, body)`` (``body`` is the orjson-encoded record, ``seq`` the change
sequence number that last wrote it, room for the change feed) and ``meta(name, value)`` holding ``seq``, the
per-type ``counts`` and where the data came from. A store is built whole (seed or import) into a temporary
file that replaces the old one by rename, so a reader never sees half a city.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from wire.linkage import FIELDS_BY_TYPE, KEYS_BY_TYPE, RECORD_TYPES

SCHEMA = """
CREATE TABLE records (
    type    TEXT NOT NULL,
    key     TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    body    BLOB NOT NULL,
    PRIMARY KEY (type, key)
) WITHOUT ROWID;
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

_BATCH = 5000
_FRAME = struct.Struct("<cQ")
_PROJECT_ROOT = str(Path(__file__).resolve().parent.parent)
Counts = dict[str, int]
Progress = Callable[[Counts], None]


def record_key(record: dict[str, Any]) -> str:
    """The store key of a record: its key fields joined by ``|`` (tax: ``owner|fiscal_year``)."""
    return "|".join(str(record[k]) for k in KEYS_BY_TYPE[record["t"]])


def canonical(record: dict[str, Any]) -> dict[str, Any]:
    """The record with ``t`` first, then exactly its type's fields in the format's order."""
    rtype = record["t"]
    out = {"t": rtype}
    for name in FIELDS_BY_TYPE[rtype]:
        out[name] = record[name]
    return out


def empty_counts() -> Counts:
    return dict.fromkeys(RECORD_TYPES, 0)


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any one thread at a time."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT name, value FROM meta").fetchall())


def _current_seq(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        conn = connect(path)
        try:
            return int(read_meta(conn).get("seq", "0"))
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def build_store(
    path: Path | str,
    records: Iterable[dict[str, Any]],
    *,
    source: str,
    canonicalize: bool = False,
    progress: Progress | None = None,
) -> Counts:
    """Write ``records`` into a new store that atomically replaces ``path``; return the per-type counts.

    ``canonicalize`` re-orders each record's fields (for imports); generated records are already in order.
    If ``records`` raises, nothing at ``path`` changes. The new store's ``seq`` is the old one plus one.
    A child process (``writer_main``) does the SQLite writing while this one produces and encodes the
    records, so a 600k city loads in about the time it takes to generate it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seq = _current_seq(path) + 1
    tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
    _remove_db_files(tmp)
    counts = empty_counts()
    pythonpath = [p for p in (_PROJECT_ROOT, os.environ.get("PYTHONPATH", "")) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from registry_sim.store import writer_main; writer_main()",
            str(tmp),
            str(seq),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
    )
    assert writer.stdin is not None and writer.stdout is not None
    try:
        with writer.stdin as pipe:
            for blob in _encoded_batches(records, counts, canonicalize, progress):
                pipe.write(_FRAME.pack(b"R", len(blob)))
                pipe.write(blob)
            meta = orjson.dumps({"seq": str(seq), "counts": orjson.dumps(counts).decode(), "source": source})
            pipe.write(_FRAME.pack(b"M", len(meta)))
            pipe.write(meta)
        outcome = writer.stdout.read().decode().strip()
        if writer.wait() != 0 or outcome != "ok":
            raise StoreError(f"writing {tmp} failed: {outcome or f'writer exited {writer.returncode}'}")
    except BaseException:
        if writer.poll() is None:
            writer.kill()
        writer.wait()
        _remove_db_files(tmp)
        raise
    finally:
        writer.stdout.close()
    _remove_db_files(path, main=False)
    os.replace(tmp, path)
    return counts


class StoreError(RuntimeError):
    """The store could not be written."""


def _encoded_batches(
    records: Iterable[dict[str, Any]],
    counts: Counts,
    canonicalize: bool,
    progress: Progress | None,
) -> Iterator[bytes]:
    """Newline-joined encoded records, ``_BATCH`` at a time; counts records as it goes."""
    dumps = orjson.dumps
    batch: list[bytes] = []
    append = batch.append
    for rec in records:
        counts[rec["t"]] += 1
        append(dumps(canonical(rec) if canonicalize else rec))
        if len(batch) >= _BATCH:
            yield b"\n".join(batch)
            batch = []
            append = batch.append
            if progress is not None:
                progress(counts)
    if batch:
        yield b"\n".join(batch)
    if progress is not None:
        progress(counts)


def writer_main() -> None:
    """Writer process started by ``build_store``: read frames from stdin and insert them; print ``ok``.

    Frames: ``R`` + newline-joined encoded records, then one ``M`` + the meta object, which commits.
    If stdin ends before the ``M`` frame, nothing is committed.
    """
    tmp, seq = sys.argv[1], int(sys.argv[2])
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA page_size = 8192")
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -65536")
    conn.executescript(SCHEMA)
    conn.execute("BEGIN")
    sql = "INSERT INTO records (type, key, version, seq, body) VALUES (?, ?, ?, ?, ?)"
    source = sys.stdin.buffer
    loads = orjson.loads
    while len(head := source.read(_FRAME.size)) == _FRAME.size:
        kind, size = _FRAME.unpack(head)
        data = source.read(size)
        if len(data) != size:
            break
        if kind == b"M":
            conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", loads(data).items())
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.close()
            print("ok", flush=True)
            return
        rows = []
        for body in data.split(b"\n"):
            rec = loads(body)
            rows.append((rec["t"], record_key(rec), rec["version"], seq, body))
        conn.executemany(sql, rows)
    conn.close()


def _remove_db_files(path: Path, main: bool = True) -> None:
    suffixes = ("", "-wal", "-shm", "-journal") if main else ("-wal", "-shm", "-journal")
    for suffix in suffixes:
        with contextlib.suppress(FileNotFoundError):
            os.remove(f"{path}{suffix}")


class StoreReader:
    """Reads one store file; each method opens its own connection, so a rebuilt file is picked up."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.exists()

    def status(self) -> tuple[int, Counts]:
        """(seq, counts per type)."""
        conn = connect(self.path)
        try:
            meta = read_meta(conn)
        finally:
            conn.close()
        counts = empty_counts()
        counts.update(orjson.loads(meta.get("counts", "{}")))
        return int(meta.get("seq", "0")), counts

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[Snapshot]:
        """A consistent read of the whole store (one read transaction)."""
        conn = connect(self.path)
        try:
            conn.execute("BEGIN")
            yield Snapshot(conn)
        finally:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("COMMIT")
            conn.close()


class Snapshot:
    """The store as of one moment: its seq and its encoded records, type by type, in key order."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        meta = read_meta(conn)
        self.seq = int(meta.get("seq", "0"))
        self.counts = empty_counts()
        self.counts.update(orjson.loads(meta.get("counts", "{}")))
        self.streamed = empty_counts()

    def lines(self, chunk_bytes: int = 64 * 1024, limit: int | None = None) -> Iterator[bytes]:
        """Chunks of about ``chunk_bytes`` of newline-terminated records: households, residents, seals, tax.

        ``streamed`` counts what was yielded so far. With ``limit``, stop after that many records.
        """
        counts = self.streamed = empty_counts()
        parts: list[bytes] = []
        size = 0
        left = limit
        for rtype in RECORD_TYPES:
            cur = self._conn.execute("SELECT body FROM records WHERE type = ? ORDER BY key", (rtype,))
            while rows := cur.fetchmany(512):
                if left is not None:
                    rows = rows[:left]
                    left -= len(rows)
                counts[rtype] += len(rows)
                for (body,) in rows:
                    parts.append(body)
                    size += len(body) + 1
                if size >= chunk_bytes:
                    parts.append(b"")
                    yield b"\n".join(parts)
                    parts, size = [], 0
                if left == 0:
                    break
            if left == 0:
                break
        if parts:
            parts.append(b"")
            yield b"\n".join(parts)
