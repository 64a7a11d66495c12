"""The server's SQLite database: one aiosqlite connection (WAL), numbered migrations applied at start."""

from __future__ import annotations

import sqlite3
from importlib import resources
from pathlib import Path

import aiosqlite

MIGRATIONS_PACKAGE = "issuance_server.migrations"


def migration_files() -> list[tuple[int, str, str]]:
    """(number, name, sql) of every migration, in order."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
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
