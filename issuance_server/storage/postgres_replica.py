"""The replica on PostgreSQL: a schema per generation (``replica_<stamp>``), built with ``COPY``.

A full sync builds the new generation on connections of its own: its tables first, then one ``COPY`` per
record type. Rows in the rows encoding go to child processes (one per group of ``SIDE_GROUPS``, as SQLite's
side writers) that parse them and copy them in while this process routes the stream: parsing is most of a
sync's CPU, and two processes use both cores. Then the primary keys and indexes (one table per connection,
at once) and the ``meta`` rows. Only then is it switched in: ``sync_state`` names it in a write transaction, and the engine's trips
name it from then on (:meth:`PostgresDatabase.use_replica`: a trip keeps the generation it began on). The
generation before is dropped once no trip reads it. A build that fails is dropped; the current replica
is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from functools import partial
from typing import Any, Final

import orjson
import psycopg
from psycopg import sql

from issuance_server.replica.store import (
    INDEXES,
    SCHEMA_VERSION,
    SIDE_GROUPS,
    ChildFeeder,
    ReplicaBuildError,
    frames,
    parse_rows,
    replica_file,
    replica_meta,
    set_sync_error,
    version_mismatch,
)
from issuance_server.storage.engine import Tx
from issuance_server.storage.postgres import PostgresDatabase, connect
from wire.linkage import FIELDS_BY_TYPE, KEYS_BY_TYPE, RECORD_TYPES

PREFIX: Final = "replica_"
SIDE_URL: Final = "KONBINI_SIDE_DATABASE_URL"  # the side copies' database, from their environment
_TYPES: Final = {"INTEGER": "BIGINT", "TEXT": 'TEXT COLLATE "C"'}


def generation_name(stamp: str) -> str:
    """The schema of a generation built at ``stamp`` (letters, digits and ``_`` only)."""
    return PREFIX + "".join(c for c in stamp.lower() if c.isalnum() or c == "_")


def _table(schema: str, rtype: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(rtype))


def _create_table(schema: str, rtype: str) -> sql.Composed:
    """The table without its key: rows are copied first, the key and indexes built after (faster)."""
    cols = sql.SQL(", ").join(
        sql.SQL("{} " + _TYPES[sqltype]).format(sql.Identifier(name))
        for name, (sqltype, _) in FIELDS_BY_TYPE[rtype].items()
    )
    return sql.SQL("CREATE TABLE {} ({}) WITH (autovacuum_enabled = true)").format(
        _table(schema, rtype), cols
    )


def _keys_and_indexes(schema: str, rtype: str) -> list[sql.Composed]:
    keys = sql.SQL(", ").join(sql.Identifier(k) for k in KEYS_BY_TYPE[rtype])
    out = [sql.SQL("ALTER TABLE {} ADD PRIMARY KEY ({})").format(_table(schema, rtype), keys)]
    for name, column in INDEXES.get(rtype, {}).items():
        out.append(
            sql.SQL("CREATE INDEX {} ON {} ({})").format(
                sql.Identifier(name), _table(schema, rtype), sql.Identifier(column)
            )
        )
    out.append(sql.SQL("ANALYZE {}").format(_table(schema, rtype)))
    return out


class _Copy:
    """One record type's ``COPY ... FROM STDIN`` on a connection of its own, open until :meth:`end`."""

    def __init__(self, url: str, schema: str, rtype: str) -> None:
        self.conn = connect(url)
        self.rtype = rtype
        self.conn.execute("BEGIN")
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in FIELDS_BY_TYPE[rtype])
        self._cursor = self.conn.cursor()
        self._manager = self._cursor.copy(
            sql.SQL("COPY {} ({}) FROM STDIN").format(_table(schema, rtype), cols)
        )
        self.copy = self._manager.__enter__()

    def end(self) -> None:
        self._manager.__exit__(None, None, None)
        self.conn.execute("COMMIT")

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.conn.close()


class PgReplicaWriter:
    """Builds one generation (schema). Not visible until switched in; :meth:`discard` on failure."""

    def __init__(self, url: str, schema: str) -> None:
        self.url = url
        self.schema = schema
        self.counts = dict.fromkeys(RECORD_TYPES, 0)
        self.timings: dict[str, float] = {}
        with connect(url) as conn:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            for rtype in RECORD_TYPES:
                conn.execute(_create_table(schema, rtype))
        self._copies: dict[str, _Copy] = {}
        self._sides: dict[str, ChildFeeder] = {}  # by record type; one child per group

    def _copy(self, rtype: str) -> _Copy:
        found = self._copies.get(rtype)
        if found is None:
            found = self._copies[rtype] = _Copy(self.url, self.schema, rtype)
        return found

    def insert(self, rtype: str, rows: Sequence[Sequence[Any]]) -> None:
        copy = self._copy(rtype).copy
        try:
            for row in rows:
                copy.write_row(row)
        except (psycopg.Error, ValueError, TypeError) as exc:
            raise ReplicaBuildError(f"malformed {rtype} record: {exc}") from None
        self.counts[rtype] += len(rows)

    def insert_rows(self, rtype: str, data: bytes, count: int) -> None:
        """``count`` rows of the rows encoding (``[type, value, ...]`` lines), to the child of its group."""
        if rtype not in self._sides:
            group = next(g for g in SIDE_GROUPS if rtype in g)
            side = ChildFeeder(
                "issuance_server.storage.postgres_replica.side_copy_main",
                [self.schema, ",".join(group)],
                group,
                env={SIDE_URL: self.url},  # never on a command line: it may hold a password
            )
            self._sides.update(dict.fromkeys(group, side))
        self._sides[rtype].send(rtype, data)
        self.counts[rtype] += count

    def finish(self, meta: dict[str, str]) -> None:
        """End the copies, build keys and indexes (a thread per table), write ``meta``."""
        t0 = time.perf_counter()
        try:
            for copy in self._copies.values():
                copy.end()
        except psycopg.Error as exc:
            raise ReplicaBuildError(f"the copy failed: {exc}") from None
        side_cpu = 0.0
        for side in dict.fromkeys(self._sides.values()):
            copied = side.finish()
            side_cpu += copied.pop("cpu_s", 0.0)
            if any(copied.get(t, 0) != self.counts[t] for t in side.types):
                raise ReplicaBuildError(f"the side copy wrote {copied}, not {self.counts}")
        self.timings["side_cpu_s"] = round(side_cpu, 3)
        t1 = time.perf_counter()
        errors: list[str] = []

        def build(rtype: str) -> None:
            try:
                with connect(self.url) as conn:
                    for statement in _keys_and_indexes(self.schema, rtype):
                        conn.execute(statement)
            except psycopg.Error as exc:
                errors.append(f"{rtype}: {exc}")

        threads = [threading.Thread(target=build, args=(t,), name=f"pg-index-{t}") for t in RECORD_TYPES]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise ReplicaBuildError("; ".join(errors))
        with connect(self.url) as conn:
            meta_table = _table(self.schema, "meta")
            conn.execute(
                sql.SQL('CREATE TABLE {} (key TEXT COLLATE "C" PRIMARY KEY, value TEXT)').format(meta_table)
            )
            with conn.cursor() as cur:
                cur.executemany(
                    sql.SQL("INSERT INTO {} (key, value) VALUES (%s, %s)").format(meta_table),
                    sorted({**meta, "schema_version": str(SCHEMA_VERSION)}.items()),
                )
        self.timings.update(copy_end_s=round(t1 - t0, 3), indexes_s=round(time.perf_counter() - t1, 3))
        self._close()

    def _close(self) -> None:
        for copy in self._copies.values():
            copy.close()
        self._copies = {}
        for side in dict.fromkeys(self._sides.values()):
            side.discard()
        self._sides = {}

    def discard(self) -> None:
        self._close()
        drop_generation(self.url, self.schema)


def side_copy_main() -> None:
    """A side copy (``PgReplicaWriter.insert_rows``): frames of the rows encoding from stdin, for the types
    ``argv[2]`` (comma-separated), parsed and copied into the generation ``argv[1]`` (the database's URL in
    the environment), one ``COPY`` per type committed when stdin ends; prints the counts per type, or why it
    failed (exit 1)."""
    gc.disable()  # millions of short-lived lists, none in a cycle (as SQLite's side writers)
    url, schema, types = os.environ[SIDE_URL], sys.argv[1], tuple(sys.argv[2].split(","))
    counts: dict[str, int | float] = dict.fromkeys(types, 0)
    copies: dict[str, _Copy] = {}
    rtype = types[0]
    try:
        for kind, data in frames(sys.stdin.buffer):
            rtype = types[kind]
            copy = copies.get(rtype) or copies.setdefault(rtype, _Copy(url, schema, rtype))
            width = len(FIELDS_BY_TYPE[rtype])
            rows = parse_rows(data)
            for row in rows:
                if len(row) != width + 1 or row[0] != rtype:
                    raise ValueError(f"a row of {len(row) - 1} fields, {width} expected")
                del row[0]
                copy.copy.write_row(row)
            counts[rtype] += len(rows)
        for copy in copies.values():
            copy.end()
        counts["cpu_s"] = round(time.process_time(), 3)
    except (ValueError, TypeError, KeyError, IndexError, psycopg.Error, ReplicaBuildError) as exc:
        print(f"malformed {rtype} record: {' '.join(str(exc).split())[:300]}", flush=True)
        sys.exit(1)
    print(orjson.dumps(counts).decode(), flush=True)


def drop_generation(url: str, schema: str) -> None:
    with connect(url) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def schema_version(url: str, schema: str) -> str | None:
    """The schema version a generation was built with (None: no such generation, or none recorded)."""
    with connect(url) as conn:
        exists = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f'"{schema}".meta',)).fetchone()
        if not exists or not exists[0]:
            return None
        row = conn.execute(
            sql.SQL("SELECT value FROM {} WHERE key = 'schema_version'").format(_table(schema, "meta"))
        ).fetchone()
    return None if row is None else str(row[0])


class PgGenerations:
    """The server's replica generations on PostgreSQL (the same interface as SQLite's ``Replica``)."""

    def __init__(self, db: PostgresDatabase) -> None:
        self._db = db
        self.attached: str | None = None

    def new_generation(self, stamp: str) -> str:
        return generation_name(stamp)

    def writer(self, name: str) -> PgReplicaWriter:
        return PgReplicaWriter(self._db.url, name)

    async def attach_current(self) -> None:
        """Use the current generation, unless it was built for another schema version: then none is
        used, ``sync_state.last_error`` says so, and a full sync builds one."""
        name = await self._db.read(replica_file)
        if not name:
            return
        version = await asyncio.to_thread(schema_version, self._db.url, name)
        if version is None:  # no such generation (a database restored from a backup): a full sync builds one
            return
        if version != str(SCHEMA_VERSION):
            await self._db.write(partial(set_sync_error, reason=version_mismatch(name, version)))
            return
        await self._db.use_replica(name)
        self.attached = name

    async def switch_to(
        self, name: str, seq: int, as_of: str, synced_at: str, fence: Callable[[Tx], None]
    ) -> str | None:
        """Point ``sync_state`` at generation ``name`` (``fence`` first: the registry lease's holder only),
        then every new trip; the previous name (to drop once no node reads it)."""
        previous = self.attached

        def point(tx: Tx) -> None:
            fence(tx)
            tx.execute(
                "UPDATE sync_state SET replica_file = ?, replica_seq = ?, replica_as_of = ?,"
                " last_full_sync_at = ?, last_error = NULL WHERE id = 1",
                (name, int(seq), as_of, synced_at),
            )

        await self._db.write(point)
        await self._db.use_replica(name)
        self.attached = name
        return previous

    def remove_generation(self, name: str) -> None:
        drop_generation(self._db.url, name)

    @property
    def ready(self) -> bool:
        return self.attached is not None

    @contextlib.contextmanager
    def reader(self) -> Iterator[Tx]:
        """The current generation read on a connection of its own, in one read transaction."""
        if self.attached is None:
            raise ReplicaBuildError("no replica generation is loaded")
        with self._db.reader_of(self.attached) as tx:
            yield tx

    async def meta(self) -> dict[str, str]:
        return await self._db.read(replica_meta) if self.attached else {}
