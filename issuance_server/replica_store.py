"""The replica of the main registry: its schema (derived from the linkage format), the writer that builds a
new generation file, and the read side the server uses.

Each full sync builds a new SQLite file (``replica/replica-<stamp>.sqlite3``); only a complete, checked file
is switched in, by one statement batch that re-attaches it and moves the pointer in ``sync_state``. A sync
that fails half way leaves the current replica untouched.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from issuance_server.database import Database, Transaction
from wire.linkage import FIELDS_BY_TYPE, FORMAT, KEYS_BY_TYPE, RECORD_TYPES

SCHEMA_VERSION = (
    2  # 2: konbini-linkage/2 (the tax records' items); a generation of another version is not used
)
REPLICA_DIR = "replica"

_INDEXES = (
    "CREATE INDEX resident_household ON resident(household_no)",
    "CREATE INDEX resident_kana ON resident(name_kana)",  # counter search
    "CREATE INDEX resident_birth ON resident(birth_date)",  # counter search by birth date alone
    "CREATE INDEX seal_owner ON seal(owner_atena_no)",
)


def table_ddl(rtype: str) -> str:
    cols = ", ".join(f"{name} {sqltype}" for name, (sqltype, _) in FIELDS_BY_TYPE[rtype].items())
    keys = ", ".join(KEYS_BY_TYPE[rtype])
    return f"CREATE TABLE {rtype} ({cols}, PRIMARY KEY ({keys})) WITHOUT ROWID"


def insert_sql(rtype: str) -> str:
    names = list(FIELDS_BY_TYPE[rtype])
    return f"INSERT INTO {rtype} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"


class ReplicaWriter:
    """Builds one replica generation file. Not durable until :meth:`finish`; :meth:`discard` on failure."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            path.unlink()
        # Built on one thread, finished on another: use is sequential, never concurrent.
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute("PRAGMA journal_mode=OFF")  # a fresh file: on failure it is thrown away
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.execute("PRAGMA cache_size=-200000")
        self._conn.execute("BEGIN")
        for rtype in RECORD_TYPES:
            self._conn.execute(table_ddl(rtype))
        self._conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        self._sql = {rtype: insert_sql(rtype) for rtype in RECORD_TYPES}
        self.counts = dict.fromkeys(RECORD_TYPES, 0)

    def insert(self, rtype: str, rows: Sequence[Sequence[Any]]) -> None:
        self._conn.executemany(self._sql[rtype], rows)
        self.counts[rtype] += len(rows)

    def finish(self, meta: dict[str, str]) -> None:
        for ddl in _INDEXES:
            self._conn.execute(ddl)
        meta = {**meta, "schema_version": str(SCHEMA_VERSION)}
        self._conn.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        self._conn.execute("COMMIT")
        self._conn.execute("PRAGMA journal_mode=WAL")  # from now on the feed writes it, crash-safe
        self._conn.close()
        with open(self.path, "rb") as fh:
            os.fsync(fh.fileno())

    def discard(self) -> None:
        try:
            self._conn.close()
        finally:
            self.path.unlink(missing_ok=True)


# The feed rewrites random rows of a large file: a bigger page cache than SQLite's 8 MB default.
_PRAGMAS = "PRAGMA replica.cache_size=-16384;PRAGMA replica.synchronous=NORMAL;"


def schema_version(path: Path) -> str | None:
    """The schema version a replica generation file was built with (None if it has none)."""
    try:
        with contextlib.closing(sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)) as conn:
            row = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def _quote(value: str | Path) -> str:
    """An SQL string literal (ATTACH takes no bound parameters inside executescript)."""
    return "'" + str(value).replace("'", "''") + "'"


class Replica:
    """The server's read side of the replica, attached as schema ``replica`` on the writer and the readers."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self._db = db
        self._dir = data_dir / REPLICA_DIR
        self.attached: str | None = None

    def new_generation_path(self, stamp: str) -> Path:
        return self._dir / f"replica-{stamp}.sqlite3"

    async def attach_current(self) -> None:
        """Attach the current generation, unless it was built for another schema version (an older linkage
        format): then none is attached, ``sync_state.last_error`` says so, and a full sync builds one."""
        row = await self._db.fetchone("SELECT replica_file FROM sync_state WHERE id = 1")
        if row and row[0] and (self._dir / row[0]).exists():
            version = schema_version(self._dir / row[0])
            if version != str(SCHEMA_VERSION):
                await self._db.execute(
                    "UPDATE sync_state SET last_error = ? WHERE id = 1",
                    (
                        f"the replica {row[0]} has schema version {version}, this server needs"
                        f" {SCHEMA_VERSION} ({FORMAT}): run a full sync (konbini-ops sync)",
                    ),
                )
                return
            await self._db.executescript(
                f"ATTACH DATABASE {_quote(self._dir / row[0])} AS replica;{_PRAGMAS}"
            )
            await self._db.use_replica(self._dir / row[0])
            self.attached = row[0]

    async def switch_to(self, path: Path, seq: int, as_of: str, synced_at: str) -> str | None:
        """Attach the finished generation at ``path`` and point ``sync_state`` at it, in one batch that no
        other write can interleave with, then move the readers to it (each between two reads). Returns the
        previous file name, which no reader reads any more (to delete)."""
        previous = self.attached
        detach = "DETACH DATABASE replica;" if previous else ""
        await self._db.executescript(
            f"{detach}ATTACH DATABASE {_quote(path)} AS replica;{_PRAGMAS}"
            f"UPDATE main.sync_state SET replica_file = {_quote(path.name)}, replica_seq = {int(seq)},"
            f" replica_as_of = {_quote(as_of)}, last_full_sync_at = {_quote(synced_at)},"
            " last_error = NULL WHERE id = 1;"
        )
        await self._db.use_replica(path)
        self.attached = path.name
        return previous

    def remove_generation(self, name: str) -> None:
        (self._dir / name).unlink(missing_ok=True)

    @property
    def ready(self) -> bool:
        return self.attached is not None

    @staticmethod
    async def resident(tx: Transaction, atena_no: str) -> dict[str, Any] | None:
        row = await tx.fetchone("SELECT * FROM replica.resident WHERE atena_no = ?", (atena_no,))
        return dict(row) if row else None

    async def meta(self) -> dict[str, str]:
        if not self.ready:
            return {}
        return {r[0]: r[1] for r in await self._db.fetchall("SELECT key, value FROM replica.meta")}
