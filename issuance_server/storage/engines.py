"""Which engine the server runs on (``database_url``), opened and checked at start.

Empty ``database_url``: SQLite in the data folder, migrated at start. A PostgreSQL URL: the database must be
reachable and at this code's schema or the next one (``konbini-ops migrate`` brings it there); otherwise
the server does not start, with one line naming ``database_url`` and what failed (exit status 2).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import closing
from typing import TypeVar

from issuance_server.settings import Settings, redacted_url
from issuance_server.storage import postgres
from issuance_server.storage.database import Database
from issuance_server.storage.database import in_write_transaction as sqlite_write
from issuance_server.storage.engine import DatabaseUnavailable, Engine, Tx
from issuance_server.storage.migrate import (
    latest_schema,
    migrate_postgres,
    postgres_schema,
    prepare_database,
    schema_problem,
)
from issuance_server.storage.postgres import PostgresDatabase, connect
from issuance_server.storage.sqlite_files import read_file
from wire.settings import SettingsError

T = TypeVar("T")
log = logging.getLogger("konbini.server")


def _unusable(settings: Settings, why: str) -> SettingsError:
    return SettingsError(f"database_url ({redacted_url(settings.database_url)}): {why}")


def check_postgres(settings: Settings) -> None:
    """Reachable and at a schema this code runs on, or a :class:`SettingsError` saying why."""
    try:
        conn = connect(settings.database_url)
    except DatabaseUnavailable as exc:
        raise _unusable(settings, f"cannot connect: {exc}") from None
    with conn:
        problem = schema_problem(postgres_schema(conn), latest_schema())
    if problem:
        raise _unusable(settings, problem)


def migrate(settings: Settings) -> tuple[str, list[str], int | None]:
    """Bring the database to this code's schema: (engine, migrations applied, schema now)."""
    if not settings.database_url:
        applied = prepare_database(settings.db_path)
        return "sqlite", applied, latest_schema()
    try:
        conn = connect(settings.database_url)
    except DatabaseUnavailable as exc:
        raise _unusable(settings, f"cannot connect: {exc}") from None
    with conn:
        applied = migrate_postgres(conn)
        return "postgresql", applied, postgres_schema(conn)


async def open_engine(settings: Settings) -> Engine:
    """The server's engine, ready (SQLite migrated; PostgreSQL checked)."""
    if not settings.database_url:
        applied = prepare_database(settings.db_path)
        if applied:
            log.info("applied migrations: %s", ", ".join(applied))
        return await Database.open(settings.db_path, settings.db_readers)
    check_postgres(settings)
    try:
        return await PostgresDatabase.open(settings.database_url, settings.db_readers)
    except DatabaseUnavailable as exc:
        raise _unusable(settings, f"cannot connect: {exc}") from None


# --- a command's own trip, outside the running server (``konbini-clerk bootstrap``, audit checks) ---


def write_now(settings: Settings, fn: Callable[[Tx], T]) -> T:
    """``fn(tx)`` in a write transaction on a connection of this process's own (the database migrated
    first on SQLite; on PostgreSQL it must be at this code's schema)."""
    if not settings.database_url:
        prepare_database(settings.db_path)
        with closing(sqlite3.connect(settings.db_path, isolation_level=None)) as conn:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA busy_timeout=5000")
            return sqlite_write(conn, fn)
    check_postgres(settings)
    with connect(settings.database_url) as conn:
        return postgres.in_write_transaction(conn, fn, None)


def read_now(settings: Settings, fn: Callable[[Tx], T]) -> T:
    """``fn(tx)`` in a read transaction on a connection of this process's own."""
    if not settings.database_url:
        return read_file(settings.db_path, fn)
    try:
        conn = connect(settings.database_url)
    except DatabaseUnavailable as exc:
        raise _unusable(settings, f"cannot connect: {exc}") from None
    with conn:
        return postgres.in_read_transaction(conn, fn, None)
