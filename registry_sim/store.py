"""The registry sim's SQLite store: every linkage record as its encoded JSON line, plus the change log.

Tables:

- ``records(type, key, version, seq, ref, body, row)``: ``body`` is the orjson-encoded record and ``row`` the
  same record in the rows encoding (``wire.linkage.encode_row``; null in stores written before it existed), ``seq`` the change
  that last wrote it (0: the initial state; informational, and of the epoch it was written in), ``ref`` the record's parent (a resident's household, a seal's
  owner; null otherwise, indexed) so that the change generator finds members and seals quickly;
- ``changes(seq, type, key, op, version, entry, row_entry)``: the change log, ``entry`` the encoded feed entry
  and ``row_entry`` the same with the record as a row (null in stores written before it existed);
- ``gone(type, key, version)``: the last version of removed records, so that versions never go back;
- ``meta(name, value)``: ``epoch``, ``seq`` (the last change), ``counts`` per type, ``pruned_through``
  (changes up to it were dropped from the log) and ``source`` (where the data came from).

A store is built whole (seed or import) into a temporary file that replaces the old one by rename, so a
reader never sees half a city; every build starts a new epoch with ``seq`` 0. Changes are written by
``registry_sim.changelog``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson

from wire.linkage import FIELDS_BY_TYPE, KEYS_BY_TYPE, RECORD_TYPES, encode_row

SCHEMA = """
CREATE TABLE records (
    type    TEXT NOT NULL,
    key     TEXT NOT NULL,
    version INTEGER NOT NULL,
    seq     INTEGER NOT NULL,
    body    BLOB NOT NULL,
    ref     TEXT,
    row     BLOB,
    PRIMARY KEY (type, key)
) WITHOUT ROWID;
CREATE TABLE meta (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""
LOG_SCHEMA = """
CREATE TABLE IF NOT EXISTS changes (
    seq     INTEGER PRIMARY KEY,
    type    TEXT NOT NULL,
    key     TEXT NOT NULL,
    op      TEXT NOT NULL,
    version INTEGER NOT NULL,
    entry   BLOB NOT NULL,
    row_entry BLOB
);
CREATE TABLE IF NOT EXISTS gone (
    type    TEXT NOT NULL,
    key     TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (type, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_ref ON records (type, ref) WHERE ref IS NOT NULL;
"""
# The field holding a record's parent, kept in ``records.ref``.
REF_FIELD: Final = {"resident": "household_no", "seal": "owner_atena_no"}

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


def log_schema_statements() -> list[str]:
    """``LOG_SCHEMA`` as single statements (``executescript`` would commit the open transaction)."""
    return [part.strip() for part in LOG_SCHEMA.split(";") if part.strip()]


def record_ref(record: dict[str, Any]) -> str | None:
    """The value kept in ``records.ref`` for a record (see ``REF_FIELD``)."""
    field = REF_FIELD.get(record["t"])
    return None if field is None else record[field]


def empty_counts() -> Counts:
    return dict.fromkeys(RECORD_TYPES, 0)


def new_epoch() -> str:
    """A fresh id for a sequence-number space: UTC time of its start and 32 random bits."""
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any one thread at a time."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 5000")
    return conn


def read_meta(conn: sqlite3.Connection) -> dict[str, str]:
    return dict(conn.execute("SELECT name, value FROM meta").fetchall())


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
    If ``records`` raises, nothing at ``path`` changes. The new store starts a new epoch at ``seq`` 0 with an
    empty change log.
    A child process (``writer_main``) does the SQLite writing while this one produces and encodes the
    records, so a 600k city loads in about the time it takes to generate it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    seq = 0
    tmp = path.with_name(f".{path.name}.building-{os.getpid()}")
    _remove_db_files(tmp)
    counts = empty_counts()
    pythonpath = [p for p in (_PROJECT_ROOT, os.environ.get("PYTHONPATH", "")) if p]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(pythonpath)}
    writer = subprocess.Popen(  # noqa: S603  a fixed argv, no shell
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
    assert writer.stdin is not None and writer.stdout is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    try:
        with writer.stdin as pipe:
            for blob in _encoded_batches(records, counts, canonicalize, progress):
                pipe.write(_FRAME.pack(b"R", len(blob)))
                pipe.write(blob)
            meta = orjson.dumps(
                {
                    "epoch": new_epoch(),
                    "seq": str(seq),
                    "pruned_through": "0",
                    "counts": orjson.dumps(counts).decode(),
                    "source": source,
                }
            )
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

    Frames: ``R`` + newline-joined encoded records, then one ``M`` + the meta object, which builds the
    indexes and commits. If stdin ends before the ``M`` frame, nothing is committed.
    """
    tmp, seq = sys.argv[1], int(sys.argv[2])
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA page_size = 8192")
    conn.execute("PRAGMA journal_mode = OFF")
    conn.execute("PRAGMA synchronous = OFF")
    conn.execute("PRAGMA cache_size = -65536")
    conn.executescript(SCHEMA)
    conn.execute("BEGIN")
    sql = "INSERT INTO records (type, key, version, seq, body, ref, row) VALUES (?, ?, ?, ?, ?, ?, ?)"
    source = sys.stdin.buffer
    loads = orjson.loads
    while len(head := source.read(_FRAME.size)) == _FRAME.size:
        kind, size = _FRAME.unpack(head)
        data = source.read(size)
        if len(data) != size:
            break
        if kind == b"M":
            for statement in log_schema_statements():
                conn.execute(statement)
            conn.executemany("INSERT INTO meta (name, value) VALUES (?, ?)", loads(data).items())
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.close()
            print("ok", flush=True)
            return
        rows = []
        for body in data.split(b"\n"):
            rec = loads(body)
            rows.append(
                (rec["t"], record_key(rec), rec["version"], seq, body, record_ref(rec), encode_row(rec))
            )
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
        _, seq, counts = self.state()
        return seq, counts

    def state(self) -> tuple[str, int, Counts]:
        """(epoch, seq, counts per type)."""
        conn = connect(self.path)
        try:
            meta = read_meta(conn)
        finally:
            conn.close()
        return meta_state(meta)

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


def meta_state(meta: dict[str, str]) -> tuple[str, int, Counts]:
    """(epoch, seq, counts) from the meta table."""
    counts = empty_counts()
    counts.update(orjson.loads(meta.get("counts", "{}")))
    return meta.get("epoch", ""), int(meta.get("seq", "0")), counts


class Snapshot:
    """The store as of one moment: its epoch, seq and encoded records, type by type, in key order.

    Made inside a read transaction, so the records are exactly those after change ``seq`` of ``epoch``.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self.epoch, self.seq, self.counts = meta_state(read_meta(conn))
        self.streamed = empty_counts()

    def lines(
        self, chunk_bytes: int = 64 * 1024, limit: int | None = None, rows: bool = False
    ) -> Iterator[bytes]:
        """Chunks of about ``chunk_bytes`` of newline-terminated records: households, residents, seals, tax;
        objects, or with ``rows`` the rows encoding (``wire.linkage.ROWS``), where the types come interleaved
        in runs of ``RUN`` records, each type about as far along (of its count) as the others, so that a
        reader can hand each type to its own worker from the start.

        ``streamed`` counts what was yielded so far. With ``limit``, stop after that many records.
        """
        counts = self.streamed = empty_counts()
        # Only the form sent is read out (the other stays in SQLite); a record without its row (an older
        # store) is encoded from its body.
        if not has_column(self._conn, "records", "row"):
            column = "body, NULL"
        else:
            column = "CASE WHEN row IS NULL THEN body END, row" if rows else "body, NULL"
        cursors = {
            t: self._conn.execute(f"SELECT {column} FROM records WHERE type = ? ORDER BY key", (t,))  # noqa: S608  table, column and placeholder text from constants; values are bound
            for t in RECORD_TYPES
        }
        parts: list[bytes] = []
        size = 0
        left = limit
        while cursors and left != 0:
            rtype = next(iter(cursors))  # objects: one type after the other
            if rows:
                rtype = min(cursors, key=lambda t: counts[t] / max(1, self.counts.get(t, 0)))
            batch = cursors[rtype].fetchmany(RUN)
            if not batch:
                del cursors[rtype]
                continue
            if left is not None:
                batch = batch[:left]
                left -= len(batch)
            counts[rtype] += len(batch)
            for body, row in batch:
                line = body if not rows else row or encode_row(orjson.loads(body))  # null: an older store
                parts.append(line)
                size += len(line) + 1
            if size >= chunk_bytes:
                parts.append(b"")
                yield b"\n".join(parts)
                parts, size = [], 0
        if parts:
            parts.append(b"")
            yield b"\n".join(parts)


RUN: Final = 512  # records of one type read (and, in the rows encoding, sent) at a time


def has_column(conn: sqlite3.Connection, table: str, column: str) -> bool:
    return any(row[1] == column for row in conn.execute(f"PRAGMA table_info({table})"))


def holds_rows(path: Path) -> bool:
    """Whether a store holds every record in the rows encoding too; one written before it existed encodes
    each record as it streams, and serves a snapshot several times slower."""
    conn = connect(path)
    try:
        if not has_column(conn, "records", "row"):
            return False
        return conn.execute("SELECT 1 FROM records WHERE row IS NULL LIMIT 1").fetchone() is None
    finally:
        conn.close()
