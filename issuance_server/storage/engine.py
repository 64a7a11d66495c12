"""What a store is written against: whole transactions as functions, the same on every engine.

A store function takes a :class:`Tx` and runs its statements synchronously on the engine's own thread;
the engine runs it in one trip (``await engine.read(fn)`` on a reader, ``await engine.write(fn)`` in a write
transaction committed when ``fn`` returns and rolled back when it raises). A request step is then one or two
trips to the database, whatever the number of statements (a trip costs more CPU than a statement).

SQL in stores is portable: ``?`` or ``:name`` parameters (an engine translates them to its own style), no
engine-specific syntax (``ON CONFLICT ... DO``, ``RETURNING`` and ``LIMIT`` are common to SQLite and
PostgreSQL); what differs lives in the engine module. Rows are read by column name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Params = Sequence[Any] | Mapping[str, Any]


class DatabaseUnavailable(Exception):
    """The database cannot be reached or refused the connection (says why, in one line): a trip that
    raises it changed nothing, and the request that made it gets ``service_unavailable``."""


class StorageFull(DatabaseUnavailable):
    """The disk under the database is full: the trip changed nothing (rolled back whole), and requests get
    ``storage_full`` until space returns; nothing needs repairing then."""


class Row(Protocol):
    """A result row, read by column name (``dict(row)`` gives all of it)."""

    def __getitem__(self, key: str, /) -> Any: ...

    def keys(self) -> Iterable[str]: ...


class Tx(Protocol):
    """Statements inside one transaction, on the engine's thread."""

    def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; how many rows it changed."""
        ...

    def executemany(self, sql: str, rows: Iterable[Params]) -> int: ...

    def one(self, sql: str, params: Params = ()) -> Row | None: ...

    def all(self, sql: str, params: Params = ()) -> list[Row]: ...

    def value(self, sql: str, params: Params = ()) -> Any:
        """The first column of the first row, or None when there is no row."""
        ...


class Engine(Protocol):
    """The database as the stores see it: ``kind`` is ``sqlite`` or ``postgresql``."""

    kind: str

    async def read(self, fn: Callable[[Tx], T]) -> T:
        """``fn`` in a read transaction: it sees one committed state from its first statement to its last."""
        ...

    async def write(self, fn: Callable[[Tx], T]) -> T:
        """``fn`` in a write transaction of its own: committed when it returns, rolled back if it raises.
        Write transactions run one at a time."""
        ...

    async def read_durably(self, fn: Callable[[Tx], T], mark: Callable[[Tx], None]) -> T:
        """``fn(tx)``, then every commit so far made durable by committing ``mark(tx)``: what ``fn`` read
        is on disk when this returns."""
        ...

    async def secure_delete(self, on: bool) -> None:
        """While on, what is deleted is overwritten where the engine can (SQLite's ``secure_delete``)."""
        ...

    async def compact(self, tables: Sequence[str]) -> None:
        """Rewrite ``tables`` without what was deleted from them, so nothing deleted stays in their files
        (SQLite rewrites its whole file)."""
        ...

    async def close(self) -> None: ...

    # One statement in a trip of its own: for tools and tests (a step composes store functions instead).

    async def execute(self, sql: str, params: Params = ()) -> int: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...

    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...
