"""The server's PostgreSQL database: the stores' :class:`~issuance_server.storage.engine.Tx` over psycopg 3.

Store functions are synchronous (``def f(tx)``), so each trip runs on a thread of the engine's own pool
with a connection of psycopg_pool's: one ``BEGIN ... COMMIT`` (or ``ROLLBACK``) around the function,
however many statements it runs. psycopg prepares a statement on the server after a few uses.

- **Writes** run one at a time, on every node: each write transaction first takes one transaction-level
  advisory lock (``pg_advisory_xact_lock``), held until it commits. The stores' read-check-write steps
  (a quote claimed once, a PIN failure counted once, the audit chain appended in one order) then mean on
  PostgreSQL what they mean on SQLite's single writer, across nodes too.
- **Reads** run ``REPEATABLE READ READ ONLY``: one committed state from their first statement to the last.
- **The replica** is a schema per generation (``replica_<stamp>``). The stores name it ``replica.``; a
  trip's SQL names the generation that was current when the trip began, so a read never mixes two; a
  generation is dropped only after the trips on it have ended (:meth:`PostgresDatabase.use_replica`).
- SQL translation: ``?`` and ``:name`` parameters become psycopg's ``%s`` and ``%(name)s``; ``main.``
  (SQLite's name of the own tables) becomes nothing; a literal ``%`` is doubled. Translations are cached.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, TypeVar, cast

import psycopg
import psycopg.errors
import psycopg.sql
from psycopg.rows import dict_row
from psycopg_pool import ConnectionPool, PoolTimeout

from issuance_server.storage.engine import DatabaseUnavailable, Params, Row, StorageFull, Tx
from issuance_server.thread_names import named_pool

T = TypeVar("T")
log = logging.getLogger("konbini.storage")

WRITE_LOCK: Final = 0x6B6F6E62  # 'konb': the advisory lock every write transaction holds
CONNECT_TIMEOUT_S: Final = 5
POOL_TIMEOUT_S: Final = 5.0  # a trip that cannot get a connection this long: DatabaseUnavailable
PROBE_EVERY_S: Final = 1.0  # while the database is unreachable, how often a trip tries it


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


# --- SQL translation -------------------------------------------------------------------------------------


def translate(sql: str, replica_schema: str | None) -> str:
    """Portable store SQL -> psycopg's SQL on PostgreSQL (see the module's docstring)."""
    out: list[str] = []
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in ("'", '"'):  # a literal or quoted identifier, as it is ('' and "" stay inside)
            end = i + 1
            while end < n:
                if sql[end] == c:
                    if end + 1 < n and sql[end + 1] == c:
                        end += 2
                        continue
                    break
                end += 1
            out.append(sql[i : end + 1].replace("%", "%%"))
            i = end + 1
        elif c == "?":
            if i + 1 < n and sql[i + 1].isdigit():
                raise ValueError("numbered ?N parameters are SQLite's only")
            out.append("%s")
            i += 1
        elif c == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and sql[i - 1 : i] != ":":
            end = i + 1
            while end < n and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            out.append(f"%({sql[i + 1 : end]})s")
            i = end
        elif c == "%":
            out.append("%%")
            i += 1
        elif (c.isalpha() or c == "_") and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] in "_.")):
            end = i
            while end < n and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            word = sql[i:end]
            if end < n and sql[end] == "." and word in ("main", "replica"):
                if word == "replica":
                    if replica_schema is None:
                        raise DatabaseUnavailable("no replica generation is loaded")
                    out.append(f'"{replica_schema}".')
                end += 1  # main. -> the search path's own tables
            else:
                out.append(word)
            i = end
        else:
            out.append(c)
            i += 1
    return "".join(out)


_CACHE: dict[tuple[str, str | None], str] = {}
_CACHE_MAX: Final = 4096


def _translated(sql: str, replica_schema: str | None) -> str:
    key = (sql, replica_schema)
    found = _CACHE.get(key)
    if found is None:
        found = translate(sql, replica_schema)
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.clear()
        _CACHE[key] = found
    return found


# --- one trip's statements -------------------------------------------------------------------------------


class PgTx:
    """The engine's :class:`~issuance_server.storage.engine.Tx` over one psycopg connection, its statements
    on one cursor kept with the connection (a new cursor a statement costs ~20 µs of CPU)."""

    __slots__ = ("conn", "cur", "replica_schema")

    def __init__(self, conn: psycopg.Connection[Any], replica_schema: str | None) -> None:
        self.conn = conn
        self.cur = cursor_of(conn)
        self.replica_schema = replica_schema

    def _sql(self, sql: str) -> Any:
        return _translated(sql, self.replica_schema)

    def execute(self, sql: str, params: Params = ()) -> int:
        self.cur.execute(self._sql(sql), params)
        return self.cur.rowcount

    def executemany(self, sql: str, rows: Iterable[Params]) -> int:
        rows = list(rows)
        if not rows:
            return 0
        self.cur.executemany(self._sql(sql), rows)
        return self.cur.rowcount

    def one(self, sql: str, params: Params = ()) -> Row | None:
        self.cur.execute(self._sql(sql), params)
        return cast(Row | None, self.cur.fetchone())

    def all(self, sql: str, params: Params = ()) -> list[Row]:
        self.cur.execute(self._sql(sql), params)
        return cast(list[Row], self.cur.fetchall())

    def value(self, sql: str, params: Params = ()) -> Any:
        self.cur.execute(self._sql(sql), params)
        row = self.cur.fetchone()
        return None if row is None else next(iter(row.values()))


_CURSORS: weakref.WeakKeyDictionary[psycopg.Connection[Any], psycopg.Cursor[dict[str, Any]]] = (
    weakref.WeakKeyDictionary()
)


def cursor_of(conn: psycopg.Connection[Any]) -> psycopg.Cursor[dict[str, Any]]:
    """The connection's one cursor (rows by column name), made on its first use."""
    cur = _CURSORS.get(conn)
    if cur is None:
        cur = _CURSORS[conn] = conn.cursor(row_factory=dict_row)
    return cur


def in_write_transaction(conn: psycopg.Connection[Any], fn: Callable[[Tx], T], replica: str | None) -> T:
    """``fn(tx)`` in a write transaction holding the write lock: committed when it returns, rolled back if
    it raises."""
    conn.execute(f"BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")
    try:
        result = fn(PgTx(conn, replica))
        conn.execute("COMMIT")
    except BaseException as exc:
        with contextlib.suppress(psycopg.Error):
            conn.execute("ROLLBACK")
        if isinstance(exc, psycopg.errors.DiskFull):
            raise StorageFull("the disk of the database server is full") from None
        raise
    return result


def in_read_transaction(conn: psycopg.Connection[Any], fn: Callable[[Tx], T], replica: str | None) -> T:
    conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
    try:
        return fn(PgTx(conn, replica))
    finally:
        conn.execute("ROLLBACK")


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection of its own (tools, the migrations, a replica build): autocommit, transactions explicit."""
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
    except psycopg.Error as exc:
        raise DatabaseUnavailable(why_failed(exc)) from None


def why_failed(exc: BaseException) -> str:
    """One line on why the database could not be used (no password, no query text)."""
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


# --- the engine ------------------------------------------------------------------------------------------


class PostgresDatabase:
    """The stores' engine on PostgreSQL (see the module's docstring)."""

    kind: str = "postgresql"

    def __init__(self, url: str, connections: int) -> None:
        self.url = url
        self._connections = connections
        self._pool = self._new_pool()
        self._down_until: float | None = None  # unreachable: trips fail at once until then, then one probes
        self._probing = asyncio.Lock()
        self._threads = named_pool(connections, "pg-trip")  # named for the OS: top -H, the benches
        self._write_lock = asyncio.Lock()  # one write trip of this node at a time (the others wait here)
        self.replica_schema: str | None = None
        self._on_generation: dict[str | None, int] = {}  # trips running on each generation
        self._trip_ended = asyncio.Condition()

    def _new_pool(self) -> ConnectionPool[Any]:
        return ConnectionPool(
            self.url,
            min_size=self._connections,
            max_size=self._connections,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            timeout=POOL_TIMEOUT_S,
            open=False,
            name="konbini",
        )

    @classmethod
    async def open(cls, url: str, readers: int) -> PostgresDatabase:
        """Connected (``DatabaseUnavailable`` saying why when it cannot be)."""
        db = cls(url, readers + 1)
        try:
            await asyncio.to_thread(db._pool.open, True, CONNECT_TIMEOUT_S * 2)
        except (PoolTimeout, psycopg.Error) as exc:
            await db.close()
            # The pool's own error only says it timed out: one connection of our own says why.
            try:
                await asyncio.to_thread(lambda: connect(url).close())
            except DatabaseUnavailable as why:
                raise why from None
            raise DatabaseUnavailable(why_failed(exc)) from None
        return db

    async def _reachable(self) -> None:
        """While the database is unreachable, trips fail at once (a 503 in milliseconds, not a wait for a
        connection); one trip a second probes it with a connection of its own, and when that succeeds the
        pool is made anew (its connections all died with the server) and trips go on."""
        if self._down_until is None:
            return
        async with self._probing:
            if self._down_until is None:
                return  # another trip's probe found it back
            if time.monotonic() < self._down_until:
                raise DatabaseUnavailable("the database is unreachable; trying again every second")
            try:
                await asyncio.to_thread(lambda: connect(self.url).close())
            except DatabaseUnavailable:
                self._down_until = time.monotonic() + PROBE_EVERY_S
                raise
            old, self._pool = self._pool, self._new_pool()
            await asyncio.to_thread(self._pool.open, False)
            await asyncio.to_thread(old.close, 0)
            self._down_until = None
            log.warning("the database is reachable again")

    async def _trip(self, fn: Callable[[psycopg.Connection[Any], str | None], T]) -> T:
        await self._reachable()
        schema = self.replica_schema
        self._on_generation[schema] = self._on_generation.get(schema, 0) + 1
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._threads, self._with_connection, fn, schema
            )
        except DatabaseUnavailable:
            if self._down_until is None:
                self._down_until = time.monotonic() + PROBE_EVERY_S
            raise
        finally:
            self._on_generation[schema] -= 1
            async with self._trip_ended:
                self._trip_ended.notify_all()

    def _with_connection(
        self, fn: Callable[[psycopg.Connection[Any], str | None], T], schema: str | None
    ) -> T:
        try:
            with self._pool.connection() as conn:
                return fn(conn, schema)
        except (psycopg.OperationalError, PoolTimeout) as exc:
            # The server went away or cannot be reached: trips fail at once until a probe finds it back.
            log.warning("database unavailable: %s", why_failed(exc))
            raise DatabaseUnavailable(why_failed(exc)) from None

    async def write(self, fn: Callable[[Tx], T]) -> T:
        async with self._write_lock:
            return await self._trip(lambda conn, schema: in_write_transaction(conn, fn, schema))

    async def read(self, fn: Callable[[Tx], T]) -> T:
        return await self._trip(lambda conn, schema: in_read_transaction(conn, fn, schema))

    async def read_durably(self, fn: Callable[[Tx], T], mark: Callable[[Tx], None]) -> T:
        """``fn`` then ``mark`` in one write transaction: a PostgreSQL commit is durable when it returns."""

        def both(tx: Tx) -> T:
            result = fn(tx)
            mark(tx)
            return result

        return await self.write(both)

    async def secure_delete(self, on: bool) -> None:
        """PostgreSQL has no per-write overwrite: :meth:`compact` removes what was deleted."""

    async def compact(self, tables: Sequence[str]) -> None:
        """``VACUUM FULL`` of ``tables`` (outside a transaction): each is rewritten into a new file without
        its deleted rows, and the old file is removed. It holds each table exclusively while it runs."""

        def vacuum(conn: psycopg.Connection[Any], _: str | None) -> None:
            names = psycopg.sql.SQL(", ").join(psycopg.sql.Identifier(t) for t in tables)
            conn.execute(psycopg.sql.SQL("VACUUM FULL {}").format(names))

        await self._trip(vacuum)

    async def use_replica(self, schema: str | None) -> None:
        """Trips read ``schema`` as ``replica`` from now on; returns once the trips that began on the
        generation before have ended (it can then be dropped)."""
        before, self.replica_schema = self.replica_schema, schema
        if before == schema:
            return
        async with self._trip_ended:
            await self._trip_ended.wait_for(lambda: self._on_generation.get(before, 0) == 0)

    async def execute(self, sql: str, params: Params = ()) -> int:
        return await self.write(lambda tx: tx.execute(sql, params))

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None:
        return await self.read(lambda tx: tx.one(sql, params))

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]:
        return await self.read(lambda tx: tx.all(sql, params))

    @contextlib.contextmanager
    def reader_of(self, schema: str) -> Iterator[Tx]:
        """A connection of its own in one read transaction with ``schema`` as ``replica`` (a long scan
        beside the server's trips, on a thread of the caller's)."""
        conn = connect(self.url)
        try:
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            yield PgTx(conn, schema)
        finally:
            with contextlib.suppress(psycopg.Error):
                conn.execute("ROLLBACK")
            conn.close()

    async def close(self) -> None:
        await asyncio.to_thread(self._pool.close)
        self._threads.shutdown(wait=False)
