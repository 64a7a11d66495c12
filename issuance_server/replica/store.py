"""The replica of the main registry and ``sync_state``: the one place their SQL lives. The replica's schema
(derived from the linkage format), its one writer (a full sync builds a new generation file; the feed
applies its pages to the current one), and the reads of the link, the desk and ops.

Each full sync builds a new SQLite file (``replica/replica-<stamp>.sqlite3``); only a complete, checked file
is switched in, by one statement batch that re-attaches it and moves the pointer in ``sync_state``. A sync
that fails half way leaves the current replica untouched.
"""

from __future__ import annotations

import contextlib
import gc
import os
import queue
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, Protocol

import apsw
import orjson

from issuance_server.storage.database import Database, SqliteTx
from issuance_server.storage.engine import Row, Tx
from wire.linkage import FIELDS_BY_TYPE, FORMAT, KEYS_BY_TYPE, RECORD_TYPES
from wire.name_search import SEPARATORS, VARIANTS, NameQuery, fold, name_query

NAME_COLUMNS: Final = ("name", "name_kana", "name_alpha", "tsusho")  # what a name search's exact test reads

TABLES: Final = ("sync_state",)  # and the replica's own file (schema ``replica``)

SCHEMA_VERSION = (
    2  # 2: konbini-linkage/2 (the tax records' items); a generation of another version is not used
)
REPLICA_DIR = "replica"

# Each table's indexes beside its primary key: index name -> the column it orders.
INDEXES: Final[dict[str, dict[str, str]]] = {
    "resident": {
        "resident_household": "household_no",
        "resident_kana": "name_kana",  # counter search
        "resident_birth": "birth_date",  # counter search by birth date alone
    },
    "seal": {"seal_owner": "owner_atena_no"},
}


def index_ddl(rtype: str) -> tuple[str, ...]:
    """The statements that create a table's indexes (none for most)."""
    return tuple(
        f"CREATE INDEX {name} ON {rtype}({column})" for name, column in INDEXES.get(rtype, {}).items()
    )


def indexed_columns(rtype: str) -> tuple[str, ...]:
    return tuple(INDEXES.get(rtype, {}).values())


def table_ddl(rtype: str) -> str:
    cols = ", ".join(f"{name} {sqltype}" for name, (sqltype, _) in FIELDS_BY_TYPE[rtype].items())
    keys = ", ".join(KEYS_BY_TYPE[rtype])
    return f"CREATE TABLE {rtype} ({cols}, PRIMARY KEY ({keys})) WITHOUT ROWID"


def insert_sql(rtype: str) -> str:
    names = list(FIELDS_BY_TYPE[rtype])
    return f"INSERT INTO {rtype} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"  # noqa: S608  table, column and placeholder text from constants; values are bound


def row_insert_sql(rtype: str) -> str:
    """Insert a row of the rows encoding as it is parsed, ``[type, value, ...]``: the type (?1) is bound and
    left out, so a row needs no copying; a row of another length (a stray type, a lost field) is an error."""
    names = list(FIELDS_BY_TYPE[rtype])
    values = ", ".join(f"?{i}" for i in range(2, len(names) + 2))
    return f"INSERT INTO {rtype} ({', '.join(names)}) VALUES ({values})"  # noqa: S608  table, column and placeholder text from constants; values are bound


def parse_rows(data: bytes) -> list[list[Any]]:
    """Newline-separated lines of the rows encoding, parsed in one call (``orjson.JSONDecodeError`` if one
    is not JSON). A newline never occurs inside JSON text, so each separates two rows."""
    return list(orjson.loads(b"[" + data.replace(b"\n", b",") + b"]"))


# Record types whose rows child processes parse and insert, with their indexes, while this one routes the
# stream (a full sync of 600,000 residents is ~3.1 million records: 0.9 million wide household and resident
# rows, 2.2 million seals and tax), one child per group, about equal in work. The file of the child sent
# the most bytes becomes the generation: when the stream ends, each child builds its indexes, and that
# child then copies the others' tables into its file as soon as they are done, which SQLite does by
# copying records and index entries (the transfer optimisation: same table and indexes, empty target).
SIDE_GROUPS: Final = (("household", "resident"), ("seal", "tax"))
SIDE_TYPES: Final = tuple(t for group in SIDE_GROUPS for t in group)
_SIDE_QUEUE: Final = 4  # payloads waiting for a child: this process routes on while a child is busy


class ChildFeeder:
    """A child process (``python -c "from <module> import <main>; <main>()" *args``) that reads frames of
    record types' rows from its stdin and prints its outcome (JSON counts, or why it failed) when stdin ends.

    Payloads go to it through a queue and a thread of its own, so that routing never waits for one child
    while another has nothing to do (a pipe holds 64 KiB; a payload is megabytes)."""

    def __init__(
        self, main: str, args: list[str], types: tuple[str, ...], env: dict[str, str] | None = None
    ) -> None:
        self.types = types
        module, function = main.rsplit(".", 1)
        root = str(Path(__file__).resolve().parents[2])
        child_env = {
            **os.environ,
            **(env or {}),
            "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p),
        }
        self._proc = subprocess.Popen(  # noqa: S603  a fixed argv, no shell
            [sys.executable, "-c", f"from {module} import {function}; {function}()", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=child_env,
        )
        self._queue: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(_SIDE_QUEUE)  # head, payload
        self._broken = False  # the child stopped reading (it failed): its outcome says why
        self.sent = 0  # bytes of rows sent
        self._feeder = threading.Thread(target=self._feed, name=f"side-{types[0]}", daemon=True)
        self._feeder.start()

    def _feed(self) -> None:
        stdin = self._proc.stdin
        assert stdin is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        while (frame := self._queue.get()) is not None:
            if self._broken:
                continue  # drain, so that send never blocks on a child that is gone
            try:
                stdin.write(frame[0])
                stdin.write(frame[1])  # as it is: megabytes are not copied to join them to the head
            except (BrokenPipeError, OSError):
                self._broken = True
        with contextlib.suppress(BrokenPipeError, OSError):
            stdin.close()

    def send(self, rtype: str, payload: bytes) -> None:
        self._put(self.types.index(rtype), payload)
        self.sent += len(payload)

    def _put(self, kind: int, payload: bytes) -> None:
        if self._broken:
            raise ReplicaBuildError(self._outcome())
        self._queue.put((_FRAME.pack(kind, len(payload)), payload))

    def finish(self) -> dict[str, float]:
        """Wait for the child to commit; its counts per type (and ``cpu_s``, the CPU seconds it used)."""
        self._queue.put(None)
        self._feeder.join()
        outcome = self._outcome()
        if self._proc.returncode != 0 or not outcome.startswith("{"):
            raise ReplicaBuildError(outcome)
        counts: dict[str, float] = orjson.loads(outcome)
        return counts

    def _outcome(self) -> str:
        assert self._proc.stdout is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        out = self._proc.stdout.read().decode(errors="replace").strip()
        self._proc.wait()
        return out or f"the side writer exited with {self._proc.returncode}"

    def discard(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait()
        if self._feeder.is_alive():
            self._broken = True
            self._queue.put(None)
            self._feeder.join()
        for stream in (self._proc.stdin, self._proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def frames(source: Any) -> Iterator[tuple[int, bytes]]:
    """A child's frames from its stdin (``ChildFeeder``): (kind, payload) until the stream ends."""
    while len(head := source.read(_FRAME.size)) == _FRAME.size:
        kind, size = _FRAME.unpack(head)
        data = source.read(size)
        if len(data) != size:
            raise ReplicaBuildError("the side writer's input stopped in the middle of a frame")
        yield kind, data


class SideWriter(ChildFeeder):
    """A child process that builds the tables of ``types`` in a file of their own (``side_writer_main``)."""

    def __init__(self, path: Path, types: tuple[str, ...]) -> None:
        self.path = path
        path.unlink(missing_ok=True)
        super().__init__(
            "issuance_server.replica.store.side_writer_main", [str(path), ",".join(types)], types
        )

    def end_rows(self, base: bool) -> None:
        """No more rows: the child builds its indexes now, while the others finish theirs; the ``base``
        child's file will be the generation's, so it also writes it to disk while it waits for the others."""
        self._put(_END_ROWS, _BASE if base else b"")

    def copy_from(self, other: SideWriter) -> None:
        """The child copies ``other``'s tables (built and committed) into its file."""
        self._put(_COPY, orjson.dumps({"path": str(other.path), "types": other.types}))

    def discard(self) -> None:
        super().discard()
        self.path.unlink(missing_ok=True)


class ReplicaBuildError(Exception):
    """A row that could not be written (malformed), or the side writer failed; says which."""


_FRAME = struct.Struct("<BI")  # side type index, payload length; the payload: newline-joined rows
_END_ROWS: Final = 254  # a frame kind: the rows have ended (payload: _BASE or nothing)
_BASE: Final = b"base"
_COPY: Final = 255  # a frame kind: copy another side file's tables (payload: its path and types, JSON)


def _fresh_file(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=OFF")  # a fresh file: on failure it is thrown away
    conn.execute("PRAGMA synchronous=OFF")
    return conn


def side_writer_main() -> None:
    """The side writer (``SideWriter``): frames from stdin into the file ``argv[1]`` for the types
    ``argv[2]`` (comma-separated), one transaction, then the indexes (at ``_END_ROWS`` or the end of stdin)
    and the tables of other side files (``_COPY``); prints the counts per type when stdin ends, or why it
    failed (exit 1).

    It writes through apsw and the SQLite it bundles (3.46 or later), not the sqlite3 module and the
    system's SQLite 3.40: a resident row (36 mostly Japanese text columns) is parsed and inserted in ~40 %
    less CPU (bench/bench_sync.py). The file it writes is an ordinary SQLite 3 file that the server's SQLite
    reads and checks (``PRAGMA integrity_check`` in the tests)."""
    # Parsing makes millions of short-lived lists, none in a reference cycle: the cycle collector would
    # only scan them (~40 % of the parse's CPU).
    gc.disable()
    conn = apsw.Connection(sys.argv[1])
    conn.execute("PRAGMA journal_mode=OFF")  # a fresh file: on failure it is thrown away
    conn.execute("PRAGMA synchronous=OFF")
    types = tuple(sys.argv[2].split(","))
    conn.execute("BEGIN")
    counts: dict[str, int | float] = dict.fromkeys(types, 0)
    for rtype in types:
        conn.execute(table_ddl(rtype))
    sql = [row_insert_sql(t) for t in types]
    source = sys.stdin.buffer
    rows_open = True
    kind = 0
    try:
        for kind, data in frames(source):
            if kind >= _END_ROWS:
                if rows_open:
                    _index_and_commit(conn, types)
                    rows_open = False
                if kind == _END_ROWS and data == _BASE:
                    with open(sys.argv[1], "rb") as fh:  # the final fsync then has only the copy to write
                        os.fdatasync(fh.fileno())
                if kind == _COPY:
                    other = orjson.loads(data)
                    counts.update(_copy_tables(conn, other["path"], other["types"]))
                continue
            if not rows_open:
                raise ReplicaBuildError("rows came after the end of the rows")
            rows = parse_rows(data)
            conn.executemany(sql[kind], rows)
            counts[types[kind]] += len(rows)
        if rows_open:
            _index_and_commit(conn, types)
        counts["cpu_s"] = round(time.process_time(), 3)
    except (ValueError, TypeError, KeyError, IndexError, apsw.Error, ReplicaBuildError) as exc:
        print(f"malformed {types[kind] if kind < len(types) else ''} record: {exc}", flush=True)
        sys.exit(1)
    conn.close()
    print(orjson.dumps(counts).decode(), flush=True)


def _index_and_commit(conn: apsw.Connection, types: Sequence[str]) -> None:
    for rtype in types:
        for ddl in index_ddl(rtype):
            conn.execute(ddl)
    conn.execute("COMMIT")


def _copy_tables(conn: apsw.Connection, path: str, types: Sequence[str]) -> dict[str, int]:
    """Copy the tables ``types`` of the side file ``path`` (with their indexes) into ``conn``'s file;
    the rows copied per type."""
    conn.execute("ATTACH DATABASE ? AS other", (path,))  # not inside a transaction
    copied: dict[str, int] = {}
    conn.execute("BEGIN")
    for rtype in types:
        conn.execute(table_ddl(rtype))
        for ddl in index_ddl(rtype):  # on the empty table: the copy brings the entries
            conn.execute(ddl)
        conn.execute(f"INSERT INTO main.{rtype} SELECT * FROM other.{rtype}")  # noqa: S608  table, column and placeholder text from constants; values are bound
        copied[rtype] = conn.changes()
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE other")
    return copied


class ReplicaWriter:
    """Builds one replica generation file. Not durable until :meth:`finish`; :meth:`discard` on failure.

    Rows come as tuples (:meth:`insert`) or as lines of the rows encoding (:meth:`insert_rows`); the lines
    of ``SIDE_TYPES`` go to child processes (``SideWriter``, one per group of ``SIDE_GROUPS``) that build
    those tables beside this one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        # Built on one thread, finished on another: use is sequential, never concurrent.
        self._conn = _fresh_file(path)
        self._conn.execute("PRAGMA cache_size=-200000")
        self._conn.execute("BEGIN")
        for rtype in RECORD_TYPES:
            self._conn.execute(table_ddl(rtype))
        self._conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        self._sql = {rtype: insert_sql(rtype) for rtype in RECORD_TYPES}
        self._row_sql = {rtype: row_insert_sql(rtype) for rtype in RECORD_TYPES}
        self.counts = dict.fromkeys(RECORD_TYPES, 0)
        self._sides: dict[str, SideWriter] = {}  # by record type; one writer per group
        self._own_rows = False  # rows inserted here (the objects encoding)
        self.timings: dict[str, float] = {}  # where finish spent its time, and the side writer's CPU

    def insert(self, rtype: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(self._sql[rtype], rows)
        self._own_rows = True
        self.counts[rtype] += len(rows)

    def insert_rows(self, rtype: str, data: bytes, count: int) -> None:
        """``count`` rows of the rows encoding, newline-separated (``ReplicaBuildError`` if one is malformed)."""
        if rtype in SIDE_TYPES:
            if rtype not in self._sides:
                group = next(g for g in SIDE_GROUPS if rtype in g)
                side = SideWriter(self.path.with_name(f"{self.path.name}.side-{group[0]}"), group)
                self._sides.update(dict.fromkeys(group, side))
            self._sides[rtype].send(rtype, data)
        else:
            try:
                self._conn.executemany(self._row_sql[rtype], parse_rows(data))
            except (ValueError, TypeError, sqlite3.Error) as exc:
                raise ReplicaBuildError(f"malformed {rtype} record: {exc}") from None
        self.counts[rtype] += count

    def finish(self, meta: dict[str, str]) -> None:
        t0 = time.perf_counter()
        sides = list(dict.fromkeys(self._sides.values()))
        if sides:
            self._merge_sides(sides, t0)
        t1 = time.perf_counter()
        built = {t for side in sides for t in side.types}  # their indexes came with them
        for rtype in RECORD_TYPES:
            if rtype not in built:
                for ddl in index_ddl(rtype):
                    self._conn.execute(ddl)
        meta = {**meta, "schema_version": str(SCHEMA_VERSION)}
        self._conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        self._conn.execute("COMMIT")
        self.timings["indexes_s"] = round(time.perf_counter() - t1, 3)
        self._conn.execute("PRAGMA journal_mode=WAL")  # from now on the feed writes it, crash-safe
        self._conn.close()
        with open(self.path, "rb") as fh:
            os.fsync(fh.fileno())

    def _merge_sides(self, sides: list[SideWriter], t0: float) -> None:
        """Let the children build their indexes; the file of the one sent the most becomes this generation's
        file (a rows snapshot sends this process no rows): that child copies the others' tables into it."""
        if self._own_rows:
            raise ReplicaBuildError("a snapshot sent records both as objects and in the rows encoding")
        base = max(sides, key=lambda side: side.sent)  # the most bytes: the most to copy otherwise
        for side in sides:
            side.end_rows(side is base)
        outcomes = []
        for side in sides:
            if side is not base:
                outcomes.append(self._checked(side, side.finish(), side.types))
                base.copy_from(side)
        t1 = time.perf_counter()
        outcomes.append(self._checked(base, base.finish(), self._sides_types(sides)))
        self.timings.update(
            side_wait_s=round(t1 - t0, 3),
            side_cpu_s=round(sum(o["cpu_s"] for o in outcomes), 3),
            merge_s=round(time.perf_counter() - t1, 3),
        )
        self._conn.execute("ROLLBACK")  # only the empty tables: the base file takes this one's place
        self._conn.close()
        # Unlinked first: ext4 writes out a file renamed over another one before the rename returns.
        self.path.unlink()
        os.replace(base.path, self.path)
        for side in sides:
            side.discard()
        self._sides = {}
        self._conn = _fresh_file(self.path)
        self._conn.execute("BEGIN")
        for rtype in RECORD_TYPES:
            if rtype not in self._sides_types(sides):  # no row of its group came: an empty table
                self._conn.execute(table_ddl(rtype))
        self._conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")

    @staticmethod
    def _sides_types(sides: list[SideWriter]) -> list[str]:
        return [t for side in sides for t in side.types]

    def _checked(self, side: SideWriter, counts: dict[str, float], types: Sequence[str]) -> dict[str, float]:
        if any(counts.get(t, 0) != self.counts[t] for t in types):
            raise ReplicaBuildError(f"the side writer wrote {counts}, not {self.counts}")
        return counts

    def discard(self) -> None:
        try:
            for side in dict.fromkeys(self._sides.values()):
                side.discard()
            self._conn.close()
        finally:
            self.path.unlink(missing_ok=True)


# The feed rewrites random rows of a large file: a bigger page cache than SQLite's 8 MB default.
_PRAGMAS = "PRAGMA replica.cache_size=-16384;PRAGMA replica.synchronous=NORMAL;"


def schema_version(path: Path) -> str | None:
    """The schema version a replica generation file was built with (None if it has none)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            value = SqliteTx(conn).value("SELECT value FROM meta WHERE key = 'schema_version'")
    except sqlite3.Error:
        return None
    return None if value is None else str(value)


def _quote(value: str | Path) -> str:
    """An SQL string literal (ATTACH takes no bound parameters inside executescript)."""
    return "'" + str(value).replace("'", "''") + "'"


def version_mismatch(name: str, version: str | None) -> str:
    return (
        f"the replica {name} has schema version {version}, this server needs"
        f" {SCHEMA_VERSION} ({FORMAT}): run a full sync (konbini-ops sync)"
    )


class Replica:
    """The server's replica generations on SQLite: a file each, attached as schema ``replica`` on the
    writer and the readers. (On PostgreSQL: ``storage.postgres_replica.PgGenerations``, the same calls.)"""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self._dir = data_dir / REPLICA_DIR
        self.attached: str | None = None

    def new_generation(self, stamp: str) -> str:
        return f"replica-{stamp}.sqlite3"

    def writer(self, name: str) -> ReplicaWriter:
        return ReplicaWriter(self._dir / name)

    async def attach_current(self) -> None:
        """Attach the current generation, unless it was built for another schema version (an older linkage
        format): then none is attached, ``sync_state.last_error`` says so, and a full sync builds one."""
        name = await self._db.read(replica_file)
        if name and (self._dir / name).exists():
            version = schema_version(self._dir / name)
            if version != str(SCHEMA_VERSION):
                await self._db.write(partial(set_sync_error, reason=version_mismatch(name, version)))
                return
            await self._db.executescript(f"ATTACH DATABASE {_quote(self._dir / name)} AS replica;{_PRAGMAS}")
            await self._db.use_replica(self._dir / name)
            self.attached = name

    async def switch_to(
        self, name: str, seq: int, as_of: str, synced_at: str, fence: Callable[[Tx], None]
    ) -> str | None:
        """Attach the finished generation ``name`` and point ``sync_state`` at it, in one batch that no
        other write can interleave with, then move the readers to it (each between two reads). Returns the
        previous file name, which no reader reads any more (to delete). ``fence`` (the registry lease's check)
        is not needed here: one server owns a SQLite file, so its lease cannot move."""
        previous = self.attached
        path = self._dir / name
        detach = "DETACH DATABASE replica;" if previous else ""
        await self._db.executescript(
            f"{detach}ATTACH DATABASE {_quote(path)} AS replica;{_PRAGMAS}"  # noqa: S608  table, column and placeholder text from constants; values are bound
            f"UPDATE main.sync_state SET replica_file = {_quote(name)}, replica_seq = {int(seq)},"
            f" replica_as_of = {_quote(as_of)}, last_full_sync_at = {_quote(synced_at)},"
            " last_error = NULL WHERE id = 1;"
        )
        await self._db.use_replica(path)
        self.attached = name
        return previous

    def remove_generation(self, name: str) -> None:
        (self._dir / name).unlink(missing_ok=True)

    @contextlib.contextmanager
    def reader(self) -> Iterator[Tx]:
        """The current generation on a connection of its own, in one read transaction (a long scan beside
        the server's reads and writes)."""
        if self.attached is None:
            raise ReplicaBuildError("no replica generation is loaded")
        with generation_reader(self._dir / self.attached) as tx:
            yield tx

    @property
    def ready(self) -> bool:
        return self.attached is not None

    async def meta(self) -> dict[str, str]:
        if not self.ready:
            return {}
        return await self._db.read(replica_meta)


# --- sync_state: the main database's one row on where the replica stands ---


def sync_state(tx: Tx) -> dict[str, Any] | None:
    """The whole row (replica file, its seq and as-of, the last full sync and the last error)."""
    row = tx.one("SELECT * FROM sync_state WHERE id = 1")
    return dict(row) if row else None


def replica_file(tx: Tx) -> str | None:
    """The file name of the current generation (None before the first full sync)."""
    value = tx.value("SELECT replica_file FROM sync_state WHERE id = 1")
    return str(value) if value else None


def set_sync_error(tx: Tx, reason: str) -> None:
    """Why the last full sync (or the attach of the current generation) failed."""
    tx.execute("UPDATE sync_state SET last_error = ? WHERE id = 1", (reason,))


# --- the replica's meta (in its file): the full sync's header, the feed's checkpoint ---


def replica_meta(tx: Tx) -> dict[str, str]:
    return {r["key"]: r["value"] for r in tx.all("SELECT key, value FROM replica.meta")}


@dataclass(frozen=True)
class Checkpoint:
    """The last feed change applied to the replica, and the feed's epoch it belongs to."""

    seq: int
    epoch: str | None


def feed_checkpoint(tx: Tx) -> Checkpoint:
    rows = tx.all("SELECT key, value FROM replica.meta WHERE key IN ('seq', 'epoch')")
    meta = {r["key"]: r["value"] for r in rows}
    return Checkpoint(int(meta.get("seq") or 0), meta.get("epoch") or None)


def set_feed_checkpoint(tx: Tx, seq: int, applied_at: str) -> None:
    """Written in the transaction of the changes up to ``seq``: both or neither."""
    tx.executemany(
        "INSERT INTO replica.meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        [("seq", str(seq)), ("applied_at", applied_at)],
    )


# --- the feed's writes: changes applied as batches ---


def _upsert_sql(rtype: str) -> str:
    """Insert a record, or update it if the change is newer; the indexed columns are left to
    ``_INDEXED_UPDATE_SQL``: SQLite rewrites an index's entry whenever its column is set, even to the same
    value, and most changes (an address, a tax figure) leave them as they were."""
    cols = list(FIELDS_BY_TYPE[rtype])
    keys = KEYS_BY_TYPE[rtype]
    updates = ", ".join(
        f"{c} = excluded.{c}" for c in cols if c not in keys and c not in indexed_columns(rtype)
    )
    return (
        f"INSERT INTO replica.{rtype} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608  table, column and placeholder text from constants; values are bound
        f" ON CONFLICT({', '.join(keys)}) DO UPDATE SET {updates} WHERE excluded.version > {rtype}.version"
    )


def _indexed_update_sql(rtype: str) -> str | None:
    """After the upsert: the indexed columns of the record the change wrote (its version is now the
    record's), only where they differ. Parameters: the indexed columns, the key, the version, the indexed
    columns again."""
    indexed = indexed_columns(rtype)
    if not indexed:
        return None
    sets = ", ".join(f"{c} = ?" for c in indexed)
    where = " AND ".join(f"{k} = ?" for k in KEYS_BY_TYPE[rtype])
    differ = " OR ".join(f"{c} IS DISTINCT FROM ?" for c in indexed)
    return f"UPDATE replica.{rtype} SET {sets} WHERE {where} AND version = ? AND ({differ})"  # noqa: S608  table, column and placeholder text from constants; values are bound


def _indexed_params(rtype: str) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A record's values -> the parameters of its ``_indexed_update_sql``."""
    fields = list(FIELDS_BY_TYPE[rtype])
    indexed = indexed_columns(rtype)
    at = [fields.index(c) for c in (*indexed, *KEYS_BY_TYPE[rtype], "version", *indexed)]
    return lambda values: tuple([values[i] for i in at])


def _delete_sql(rtype: str) -> str:
    return f"DELETE FROM replica.{rtype} WHERE " + " AND ".join(f"{k} = ?" for k in KEYS_BY_TYPE[rtype])  # noqa: S608  table, column and placeholder text from constants; values are bound


def key_values(rtype: str, key: str) -> tuple[Any, ...]:
    """The primary-key values of a feed key ('owner|fiscal_year' for tax records)."""
    parts = key.split("|")
    if len(parts) != len(KEYS_BY_TYPE[rtype]):
        raise ValueError(f"bad {rtype} key {key!r}")
    return tuple(int(p) if c == "fiscal_year" else p for p, c in zip(parts, KEYS_BY_TYPE[rtype], strict=True))


_UPSERT_SQL = {t: _upsert_sql(t) for t in FIELDS_BY_TYPE}
_INDEXED_UPDATE_SQL = {t: _indexed_update_sql(t) for t in FIELDS_BY_TYPE}
_INDEXED_PARAMS = {t: _indexed_params(t) for t in FIELDS_BY_TYPE}
_DELETE_SQL = {t: _delete_sql(t) for t in FIELDS_BY_TYPE}


class RecordChange(Protocol):
    """A change of the feed as the store applies it: the whole record (``upsert``) or its removal."""

    op: str  # upsert | remove
    rtype: str
    key: str  # the feed's key (see key_values)
    values: Sequence[Any] | None  # an upsert's whole record, its type's fields in the format's order


def apply_changes(tx: Tx, changes: Iterable[RecordChange]) -> None:
    """Apply ``changes`` (in order) as batches: each record's final state, grouped by statement.

    A change carries the whole record, so only the last change to a key decides its state; changes to
    different keys commute. That leaves at most one executemany per (operation, type). An upsert never
    replaces a newer version."""
    last: dict[tuple[str, str], RecordChange] = {}
    for change in changes:
        last[(change.rtype, change.key)] = change
    grouped: dict[str, list[Sequence[Any]]] = {}
    for change in last.values():
        if change.op == "upsert":
            assert change.values is not None  # noqa: S101  an invariant that narrows a type, not a check of input
            grouped.setdefault(_UPSERT_SQL[change.rtype], []).append(change.values)
            indexed = _INDEXED_UPDATE_SQL[change.rtype]
            if indexed is not None:  # after the upsert of its type (the dict keeps that order)
                grouped.setdefault(indexed, []).append(_INDEXED_PARAMS[change.rtype](change.values))
        else:
            grouped.setdefault(_DELETE_SQL[change.rtype], []).append(key_values(change.rtype, change.key))
    for sql, rows in grouped.items():
        tx.executemany(sql, rows)


# --- reads of the link, the desk and ops ---


@contextlib.contextmanager
def generation_reader(path: Path) -> Iterator[Tx]:
    """A connection of its own to the generation file ``path``, attached read-only as ``replica``, in one read
    transaction: the store's reads on it see one state however long they take, beside the server's."""
    with contextlib.closing(sqlite3.connect("file::memory:", uri=True, isolation_level=None)) as conn:
        conn.row_factory = sqlite3.Row
        conn.execute("ATTACH DATABASE ? AS replica", (f"{path.resolve().as_uri()}?mode=ro",))
        conn.execute("BEGIN")
        try:
            yield SqliteTx(conn)
        finally:
            conn.execute("ROLLBACK")


def record(tx: Tx, rtype: str, key: Sequence[Any]) -> dict[str, Any] | None:
    """One record by its primary-key values (``key_values``), or None if it is not in the replica."""
    where = " AND ".join(f"{k} = ?" for k in KEYS_BY_TYPE[rtype])
    row = tx.one(f"SELECT * FROM replica.{rtype} WHERE {where}", key)  # noqa: S608  table, column and placeholder text from constants; values are bound
    return dict(row) if row else None


def scan_versions(tx: Tx, rtype: str, consume: Callable[[list[Row]], None], page: int = 50_000) -> None:
    """Every record's primary key and version, in key order, ``page`` rows at a time to ``consume``
    (rows by column name: the key's columns and ``version``)."""
    keys = KEYS_BY_TYPE[rtype]
    cols = ", ".join(keys)
    first = f"SELECT {cols}, version FROM replica.{rtype} ORDER BY {cols} LIMIT {int(page)}"  # noqa: S608  table, column and placeholder text from constants; values are bound
    after = (
        f"SELECT {cols}, version FROM replica.{rtype} WHERE ({cols}) > ({', '.join('?' * len(keys))})"  # noqa: S608  table, column and placeholder text from constants; values are bound
        f" ORDER BY {cols} LIMIT {int(page)}"
    )
    rows = tx.all(first)
    while rows:
        consume(rows)
        if len(rows) < page:
            return
        rows = tx.all(after, [rows[-1][k] for k in keys])


def resident(tx: Tx, atena_no: str) -> dict[str, Any] | None:
    row = tx.one("SELECT * FROM replica.resident WHERE atena_no = ?", (atena_no,))
    return dict(row) if row else None


def _without_separators(expr: str) -> str:
    """SQL for ``expr`` without what is written between a name's parts (as :func:`wire.name_search.fold`)."""
    for separator in SEPARATORS:
        expr = f"REPLACE({expr}, '{separator.replace(chr(39), chr(39) * 2)}', '')"
    return expr


NAME_PAGE: Final = 2000  # rows a name search reads at a time before its exact test (in Python)


def _has_each_character(column: str, folded: str, params: list[str]) -> str:
    """SQL that narrows to values of ``column`` holding every character of ``folded`` in some spelling (吉 or
    𠮷): nested REPLACEs of every variant overflow SQLite's parser, so the exact test (the folded value
    contains ``folded``) is :func:`_matches`, in Python, on what this finds."""
    spellings: dict[str, set[str]] = {c: {c} for c in folded}
    for variant, everyday in VARIANTS.items():
        if everyday in spellings:
            spellings[everyday].add(variant)
    parts = []
    for forms in spellings.values():
        parts.append("(" + " OR ".join(f"LOWER({column}) LIKE ? ESCAPE '\\'" for _ in forms) + ")")
        params += [_contains(form) for form in sorted(forms)]
    return "(" + " AND ".join(parts) + ")"


def _matches(row: Row, query: NameQuery) -> bool:
    """The exact test of a row the SQL found, by the name's forms (:func:`wire.name_search.name_query`)."""
    return bool(
        (query.kana and query.kana in fold(row["name_kana"] or ""))
        or (query.alpha and query.alpha in fold(row["name_alpha"] or ""))
        or (query.folded and any(query.folded in fold(row[c] or "") for c in ("name", "tsusho")))
    )


def _contains(text: str) -> str:
    """A LIKE pattern (ESCAPE '\\') for ``text`` anywhere."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def search_residents(
    tx: Tx, columns: Sequence[str], limit: int, *, name: str = "", atena_no: str = "", birth_date: str = ""
) -> list[Row]:
    """``columns`` of up to ``limit`` residents by name (as :func:`wire.name_search.name_query` reads it: in
    the ふりがな, the alphabet name, or the kanji name and 通称 with variants folded; anywhere in it), 宛名番号
    and birth date (those given, combined with AND; at least one), by ふりがな then birth date."""
    where: list[str] = []
    params: list[str] = []
    query = name_query(name) if name else None
    if query is not None:
        forms: list[str] = []
        if query.kana:
            forms.append(f"{_without_separators('name_kana')} LIKE ? ESCAPE '\\'")
            params.append(_contains(query.kana))
        if query.alpha:
            forms.append(f"LOWER({_without_separators('name_alpha')}) LIKE ? ESCAPE '\\'")
            params.append(_contains(query.alpha))
        if query.folded:
            forms += [_has_each_character(column, query.folded, params) for column in ("name", "tsusho")]
        where.append(f"({' OR '.join(forms)})" if forms else "1 = 0")
        columns = [*columns, *(c for c in NAME_COLUMNS if c not in columns)]
    if atena_no:
        where.append("atena_no = ?")
        params.append(atena_no)
    if birth_date:
        where.append("birth_date = ?")
        params.append(birth_date)
    sql = (
        f"SELECT {', '.join(columns)} FROM replica.resident WHERE {' AND '.join(where)}"  # noqa: S608  table, column and placeholder text from constants; values are bound
        " ORDER BY name_kana, birth_date, atena_no"
    )
    if query is None:
        return tx.all(f"{sql} LIMIT {int(limit)}", params)
    found: list[Row] = []
    offset = 0
    while len(found) < limit:  # a page at a time, so that a common character cannot hide a match
        rows = tx.all(f"{sql} LIMIT {NAME_PAGE} OFFSET {offset}", params)
        found += [r for r in rows if _matches(r, query)]
        if len(rows) < NAME_PAGE:
            break
        offset += NAME_PAGE
    return found[:limit]


def kojin_bango(tx: Tx, atena_no: str) -> tuple[bool, str | None]:
    """Whether the resident is in the replica, and their 個人番号 (None when it has none)."""
    row = tx.one("SELECT kojin_bango FROM replica.resident WHERE atena_no = ?", (atena_no,))
    return (False, None) if row is None else (True, row["kojin_bango"])


# --- reads of the kiosk and desk steps (facts) ---


def household_members(tx: Tx, household_no: str) -> list[Row]:
    """The residents of a household, the householder first, then by birth date."""
    return tx.all(
        "SELECT * FROM replica.resident WHERE household_no = ? AND status = 'resident'"
        " ORDER BY relationship != '世帯主', birth_date, atena_no",
        (household_no,),
    )


def seals_of(tx: Tx, atena_no: str) -> list[Row]:
    """A resident's seals, the active one first, then the newest."""
    return tx.all(
        "SELECT * FROM replica.seal WHERE owner_atena_no = ? ORDER BY status != 'active', registered_on DESC",
        (atena_no,),
    )


def taxes_of(tx: Tx, atena_no: str) -> list[Row]:
    return tx.all("SELECT * FROM replica.tax WHERE owner_atena_no = ?", (atena_no,))


def replica_as_of(tx: Tx) -> str:
    """Up to when the loaded replica matched the registry ('' before the first load)."""
    value = tx.value("SELECT replica_as_of FROM main.sync_state WHERE id = 1")
    return str(value) if value else ""
