"""The numbered migrations of the server's own tables, on both engines.

SQLite migrates at start (``prepare_database``). PostgreSQL is migrated by ``konbini-ops migrate``
(``migrate_postgres``): its migrations (``migrations/postgresql/``, numbered as SQLite's; a baseline at
PostgreSQL's first number covers the earlier ones) are expand/contract, so a server whose code knows schema N
runs on a database at N or N+1 (``schema_problem``), which lets nodes be upgraded one at a time."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

MIGRATIONS_PACKAGE = "issuance_server.migrations"
POSTGRES_MIGRATIONS_PACKAGE = "issuance_server.migrations.postgresql"
MIGRATION_LOCK = 0x6B6F6E6D  # 'konm': one migrating process at a time on a PostgreSQL database


def migration_files(package: str = MIGRATIONS_PACKAGE) -> list[tuple[int, str, str]]:
    """(number, name, sql) of every migration, in order."""
    found = []
    for entry in resources.files(package).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    return sorted(found)


def apply_migrations(conn: sqlite3.Connection) -> list[str]:
    """Apply the migrations this database lacks, each in its own transaction; return their names."""
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (number INTEGER PRIMARY KEY, name TEXT NOT NULL)"
    )
    done = {row[0] for row in conn.execute("SELECT number FROM schema_migrations")}
    applied = []
    for number, name, sql in migration_files():
        if number in done:
            continue
        conn.executescript(
            f"BEGIN;\n{sql}\nINSERT INTO schema_migrations VALUES ({number}, '{name}');\nCOMMIT;"
        )
        applied.append(name)
    return applied


def prepare_database(db_path: Path) -> list[str]:
    """Create the database if needed, switch it to WAL and migrate it (synchronously, before serving)."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        return apply_migrations(conn)
    finally:
        conn.close()


async def open_database(db_path: Path) -> aiosqlite.Connection:
    """The server's connection: autocommit mode; callers open explicit transactions with BEGIN."""
    conn = await aiosqlite.connect(db_path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await conn.execute("PRAGMA busy_timeout=5000")
    return conn


def latest_schema() -> int:
    """The schema this code knows: the number of its last migration (the same on both engines)."""
    return migration_files()[-1][0]


def schema_problem(database_schema: int | None, needed: int) -> str | None:
    """Why a server of schema ``needed`` cannot run on a database at ``database_schema`` (None: it can,
    at ``needed`` or ``needed + 1``)."""
    if database_schema is None:
        return f"the database has no schema: this server needs schema {needed} (run konbini-ops migrate)"
    if database_schema < needed:
        return (
            f"the database is at schema {database_schema}, this server needs schema {needed}"
            " (run konbini-ops migrate)"
        )
    if database_schema > needed + 1:
        return (
            f"the database is at schema {database_schema}, this server needs schema {needed} or {needed + 1}"
            " (upgrade this server)"
        )
    return None


def postgres_schema(conn: Any) -> int | None:
    """The highest migration a PostgreSQL database has (None: none, not even the table)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()[0]
    if not exists:
        return None
    value = conn.execute("SELECT max(number) FROM schema_migrations").fetchone()[0]
    return None if value is None else int(value)


def migrate_postgres(conn: Any) -> list[str]:
    """Apply the migrations the PostgreSQL database lacks (connection in autocommit), each in its own
    transaction, one migrating process at a time; return their names."""
    conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK,))
    try:
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (number BIGINT PRIMARY KEY, name TEXT NOT NULL)"
        )
        current = postgres_schema(conn) or 0
        applied = []
        for number, name, sql in migration_files(POSTGRES_MIGRATIONS_PACKAGE):
            if number <= current:
                continue
            with conn.transaction():
                conn.execute(sql.encode())  # bytes: no parameters, so a '%' in the SQL is itself
                conn.execute("INSERT INTO schema_migrations VALUES (%s, %s)", (number, name))
            applied.append(name)
        return applied
    finally:
        conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK,))
