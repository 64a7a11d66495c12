"""Which engine the server runs on (``database_url``), opened and checked at start.

Empty ``database_url``: SQLite in the data folder, migrated at start. A PostgreSQL URL: the database must be
reachable and at this code's schema or the next one (``konbini-ops migrate`` brings it there); otherwise
the server does not start, with one line naming ``database_url`` and what failed (exit status 2).
"""

from __future__ import annotations

import logging
import urllib.parse
from typing import Any

from issuance_server.settings import Settings
from issuance_server.storage.database import Database
from issuance_server.storage.engine import DatabaseUnavailable, Engine
from issuance_server.storage.migrate import (
    latest_schema,
    migrate_postgres,
    postgres_schema,
    prepare_database,
    schema_problem,
)
from issuance_server.storage.postgres import PostgresDatabase, connect
from wire.settings import SettingsError

log = logging.getLogger("konbini.server")


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


def _unusable(settings: Settings, why: str) -> SettingsError:
    return SettingsError(f"database_url ({redacted(settings.database_url)}): {why}")


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


def describe(db: Any) -> str:
    """The engine for logs and status: ``sqlite`` or ``postgresql``."""
    return str(getattr(db, "kind", "sqlite"))
