"""What reaches the disk, on SQLite: commits made durable on demand, and erasure that leaves nothing in
the file. SQLite-only; another engine provides the same functions its own way (PostgreSQL commits durably
already, and erases with its own ``VACUUM``).

The database commits with ``synchronous=NORMAL``: a commit reaches the WAL but is fsynced only at SQLite's
own checkpoints. One small commit with ``synchronous=FULL`` fsyncs the WAL, which holds every earlier
commit not yet copied into the (then fsynced) database file. Never an fsync through a descriptor of our
own: closing it would drop SQLite's POSIX locks on the file for the whole process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

from issuance_server.storage.database import Database, SqliteTx, Transaction, in_write_transaction
from issuance_server.storage.engine import Tx

T = TypeVar("T")


def _commit_durably(conn: sqlite3.Connection, mark: Callable[[Tx], None]) -> None:
    """``mark(tx)`` committed with ``synchronous=FULL``: every commit so far on disk."""
    conn.execute("PRAGMA synchronous=FULL")
    try:
        in_write_transaction(conn, mark)
    finally:
        conn.execute("PRAGMA synchronous=NORMAL")


def _read_then_commit_durably(
    fn: Callable[[Tx], T], mark: Callable[[Tx], None], conn: sqlite3.Connection
) -> T:
    result = fn(SqliteTx(conn))
    _commit_durably(conn, mark)
    return result


async def read_durably(db: Database, fn: Callable[[Tx], T], mark: Callable[[Tx], None]) -> T:
    """``fn(tx)`` on the writer, then every commit so far made durable by committing ``mark(tx)`` (a
    one-row write) with ``synchronous=FULL``: under the writer's lock, in one hop, so no commit lands
    between the read and the fsync and what ``fn`` read is on disk when this returns."""
    async with db.lock:
        return await Transaction(db.conn).run(lambda conn: _read_then_commit_durably(fn, mark, conn))


async def secure_delete(db: Database, on: bool) -> None:
    """While on, deleted content is overwritten in the file (SQLite's ``secure_delete``)."""
    await db.execute("PRAGMA secure_delete = ON" if on else "PRAGMA secure_delete = OFF")


async def compact(db: Database) -> None:
    """Outside any transaction, rewrite the file without its free pages (``VACUUM``), then empty the WAL:
    nothing deleted is left in the files."""
    async with db.lock:
        await db.conn.execute("VACUUM")
        await db.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
