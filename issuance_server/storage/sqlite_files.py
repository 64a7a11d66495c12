"""A SQLite database file used directly, outside the running server's :class:`Database`: command-line
tools, a stopped server's file (``konbini-ops audit-verify``, restore) and backups (an online copy with
SQLite's backup API, its integrity check). SQLite-only; another engine provides its own (a dump, a
restore). Store functions run on such a file through :class:`SqliteTx`.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar
from urllib.parse import quote

from issuance_server.storage.database import SqliteTx
from issuance_server.storage.engine import Tx

T = TypeVar("T")


def _read_only_uri(path: Path) -> str:
    return f"file:{quote(str(path.resolve()))}?mode=ro"


@contextmanager
def opened(path: Path, read_only: bool = False) -> Iterator[sqlite3.Connection]:
    """The file's connection (autocommit: transactions are explicit), rows read by column name."""
    if read_only:
        conn = sqlite3.connect(_read_only_uri(path), uri=True, isolation_level=None)
    else:
        conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
    finally:
        conn.close()


def read_file(path: Path, fn: Callable[[Tx], T]) -> T:
    """``fn(tx)`` on the file opened read-only (a stopped server's database, or a backup's)."""
    with opened(path, read_only=True) as conn:
        return fn(SqliteTx(conn))


def has_table(tx: Tx, name: str) -> bool:
    """Whether the database has table ``name`` (a backup older than a migration lacks it)."""
    return tx.one("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)) is not None


def online_copy(source: Path, target: Path) -> None:
    """A consistent snapshot of the live database ``source`` into the new file ``target``, in one step
    of SQLite's backup API while the server writes on (never a file copy of a live WAL database)."""
    with opened(source, read_only=True) as src, opened(target) as dst:
        src.backup(dst)


def check_file(path: Path, tables: Iterable[str]) -> tuple[str, dict[str, int]]:
    """``PRAGMA integrity_check``'s verdict on the file (``ok`` when sound) and the rows of each table."""
    with opened(path) as conn:
        integrity = str(conn.execute("PRAGMA integrity_check").fetchone()[0])
        counts = {t: int(conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}  # noqa: S608  table names from the caller's constants
    return integrity, counts
