"""The server's SQLite database: one writer connection under a lock, and read-only connections beside it.

Datasette's pattern: every write (``transaction()``, ``execute``, ``executescript``) goes through the one
writer, serialised by a lock, so one request's statements never land inside another's transaction. Reads
(``transaction(write=False)``, ``fetchone``, ``fetchall``) take a reader of their own: with WAL they see the
last committed state and never wait behind a write, e.g. a 10,000-change feed page being applied.

The replica (a separate file per generation) is attached as schema ``replica`` on the writer and on each
reader. :meth:`Database.use_replica` moves every reader to a new generation: a reader moves only between
two reads, so a read sees one generation from its first statement to its last.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Final, TypeVar, cast
from urllib.parse import quote

import aiosqlite

from issuance_server.storage.engine import Params, Row, StorageFull, Tx
from issuance_server.storage.migrate import open_database
from issuance_server.thread_names import name_os_thread

T = TypeVar("T")
DEFAULT_READERS: Final = 2
# A reader's page cache for the replica: the OS's file cache holds the rest (and is shared).
_READER_REPLICA_CACHE_KIB: Final = 4096


class Transaction:
    """Statements inside ``async with db.transaction() as tx``: committed together or not at all.

    Each method is one hop to the connection's thread (statement, rows and cursor close together): a hop
    costs more CPU than the statement itself (the queue, the thread's wake-up, the loop's wake-up)."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(connection)`` on the connection's own thread, in one hop however many statements it runs."""
        # aiosqlite's queue to its thread; it has no public call for a function of the connection.
        conn = self.conn
        return cast(T, await conn._execute(lambda: fn(conn._conn)))

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self.run(partial(_execute, sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        return await self.run(partial(_fetchone, sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        return await self.run(partial(_fetchall, sql, params))


def _execute(sql: str, params: Any, conn: sqlite3.Connection) -> int:
    with closing(conn.execute(sql, params)) as cur:
        return cur.rowcount


def _fetchone(sql: str, params: Any, conn: sqlite3.Connection) -> Any:
    with closing(conn.execute(sql, params)) as cur:
        return cur.fetchone()


def _fetchall(sql: str, params: Any, conn: sqlite3.Connection) -> list[Any]:
    with closing(conn.execute(sql, params)) as cur:
        return cur.fetchall()


class SqliteTx:
    """The engine's :class:`~issuance_server.storage.engine.Tx` over one sqlite3 connection."""

    __slots__ = ("conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def execute(self, sql: str, params: Params = ()) -> int:
        return _execute(sql, params, self.conn)

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        with closing(self.conn.executemany(sql, rows)) as cur:
            return cur.rowcount

    def one(self, sql: str, params: Params = ()) -> Row | None:
        return cast(Row | None, _fetchone(sql, params, self.conn))

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        return _fetchall(sql, params, self.conn)

    def value(self, sql: str, params: Params = ()) -> Any:
        row = _fetchone(sql, params, self.conn)
        return None if row is None else row[0]


def in_write_transaction(conn: sqlite3.Connection, fn: Callable[[Tx], T]) -> T:
    """``fn(tx)`` in a write transaction on ``conn`` (the writer's, or a tool's own connection to the file):
    committed when it returns, rolled back if it raises."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(SqliteTx(conn))
        conn.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(sqlite3.Error):  # a COMMIT that failed (a full disk) leaves it open
            conn.execute("ROLLBACK")
        if isinstance(exc, sqlite3.Error) and _disk_full(exc):
            raise StorageFull("the disk of the server's data folder is full") from None
        raise
    return result


def _disk_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "disk is full" in str(exc)


def _in_read_transaction(conn: sqlite3.Connection, fn: Callable[[Tx], T]) -> T:
    conn.execute("BEGIN")
    try:
        return fn(SqliteTx(conn))
    finally:
        conn.execute("ROLLBACK")  # nothing to keep: it only read


async def _name_thread(conn: aiosqlite.Connection, name: str) -> None:
    await Transaction(conn).run(lambda _: name_os_thread(name))


@dataclass
class _Reader:
    conn: aiosqlite.Connection
    replica: Path | None = None  # the generation attached as ``replica``


def _read_only_uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


class Database:
    """The stores' engine on SQLite (the :class:`~issuance_server.storage.engine.Engine` protocol)."""

    kind: str = "sqlite"

    def __init__(self, conn: aiosqlite.Connection, readers: list[aiosqlite.Connection] | None = None) -> None:
        self.conn = conn  # the writer
        self.lock = asyncio.Lock()
        self._readers = [_Reader(r) for r in readers or []]
        self._idle: asyncio.Queue[_Reader] = asyncio.Queue()
        for reader in self._readers:
            self._idle.put_nowait(reader)
        self._replica: Path | None = None
        self._released = asyncio.Condition()

    @classmethod
    async def open(cls, path: Path, readers: int = DEFAULT_READERS) -> Database:
        """The writer and ``readers`` read-only connections (0: reads share the writer and its lock)."""
        writer = await open_database(path)
        conns = []
        for _ in range(readers):
            conn = await aiosqlite.connect(_read_only_uri(path), uri=True, isolation_level=None)
            conn.row_factory = aiosqlite.Row
            await conn.execute("PRAGMA busy_timeout=5000")
            conns.append(conn)
        # Each connection's thread by its role, for the OS (top -H) and the benches.
        await _name_thread(writer, "sqlite-writer")
        for i, conn in enumerate(conns):
            await _name_thread(conn, f"sqlite-read-{i}")
        return cls(writer, conns)

    @asynccontextmanager
    async def transaction(self, write: bool = True) -> AsyncIterator[Transaction]:
        """A write transaction on the writer, or (``write=False``) a read transaction on a reader."""
        if not write and self._readers:
            async with self._reading() as tx:
                yield tx
            return
        async with self.lock:
            await self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Transaction(self.conn)
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    @asynccontextmanager
    async def _reader(self) -> AsyncIterator[aiosqlite.Connection]:
        reader = await self._idle.get()
        try:
            await self._attach(reader)
            yield reader.conn
        finally:
            await self._release(reader)

    async def _release(self, reader: _Reader) -> None:
        self._idle.put_nowait(reader)
        async with self._released:
            self._released.notify_all()

    @asynccontextmanager
    async def _reading(self) -> AsyncIterator[Transaction]:
        async with self._reader() as conn:
            await conn.execute("BEGIN")
            try:
                yield Transaction(conn)
            finally:
                await conn.execute("ROLLBACK")  # nothing to keep: it only read

    async def _attach(self, reader: _Reader) -> None:
        """Attach the current replica generation to an idle reader, if it has another (or none)."""
        if reader.replica == self._replica:
            return
        if reader.replica is not None:
            await reader.conn.execute("DETACH DATABASE replica")
            reader.replica = None
        if self._replica is not None:
            await reader.conn.execute("ATTACH DATABASE ? AS replica", (_read_only_uri(self._replica),))
            await reader.conn.execute(f"PRAGMA replica.cache_size=-{_READER_REPLICA_CACHE_KIB}")
            reader.replica = self._replica

    async def use_replica(self, path: Path | None) -> None:
        """Readers read ``path`` as ``replica`` from now on (a reader moves when it is next taken, or here
        when idle). Returns once every reader has moved, so the generation before can be deleted: reads
        running on it finish first, and other reads go on meanwhile."""
        self._replica = path
        async with self._released:
            while True:
                for _ in range(self._idle.qsize()):  # move the idle ones now
                    reader = self._idle.get_nowait()
                    try:
                        await self._attach(reader)
                    finally:
                        self._idle.put_nowait(reader)
                if all(reader.replica == path for reader in self._readers):
                    return
                await self._released.wait()  # the others move when their read ends

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.lock:
            return await Transaction(self.conn).execute(sql, params)

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """``fn(tx)`` in a write transaction of its own (committed, or rolled back if it raises), in one
        hop to the writer's thread where ``transaction()`` takes one for BEGIN, each statement and COMMIT."""
        async with self.lock:
            return await Transaction(self.conn).run(lambda conn: in_write_transaction(conn, fn))

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """``fn(tx)`` in a read transaction on a reader, in one hop to the reader's thread."""
        if not self._readers:
            async with self.lock:
                return await Transaction(self.conn).run(lambda conn: _in_read_transaction(conn, fn))
        async with self._reader() as conn:
            return await Transaction(conn).run(lambda conn: _in_read_transaction(conn, fn))

    async def read_durably(self, fn: Callable[[Tx], T], mark: Callable[[Tx], None]) -> T:
        from issuance_server.storage import sqlite_durability  # it builds on this module

        return await sqlite_durability.read_durably(self, fn, mark)

    async def secure_delete(self, on: bool) -> None:
        from issuance_server.storage import sqlite_durability

        await sqlite_durability.secure_delete(self, on)

    async def compact(self, tables: Sequence[str]) -> None:
        from issuance_server.storage import sqlite_durability

        await sqlite_durability.compact(self)

    async def executescript(self, script: str) -> None:
        async with self.lock:
            await self.conn.executescript(script)

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        """One statement: its own read transaction, on a reader."""
        if not self._readers:
            async with self.lock:
                return cast(Row | None, await Transaction(self.conn).fetchone(sql, params))
        async with self._reader() as conn:
            return cast(Row | None, await Transaction(conn).fetchone(sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        """One statement: its own read transaction, on a reader."""
        if not self._readers:
            async with self.lock:
                return cast(list[Row], await Transaction(self.conn).fetchall(sql, params))
        async with self._reader() as conn:
            return cast(list[Row], await Transaction(conn).fetchall(sql, params))

    async def close(self) -> None:
        for reader in self._readers:
            await reader.conn.close()
        await self.conn.close()
