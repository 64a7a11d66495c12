"""The replica built on PostgreSQL (a schema per generation, ``COPY``) from the same snapshot holds what the
SQLite build holds, in the rows encoding and in the objects encoding; a malformed row fails the build and
leaves no schema behind; a generation of another schema version is not used."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from issuance_server.replica.store import SCHEMA_VERSION, ReplicaBuildError
from issuance_server.storage import postgres
from issuance_server.storage.migrate import migrate_postgres
from issuance_server.storage.postgres_replica import PgGenerations, PgReplicaWriter
from konbini_demo.postgres_cluster import PostgresCluster, fresh_database
from recovery.snapshot_sync import SyncError, SyncProgress, load_snapshot
from registry_sim.generator import generate_city
from registry_sim.store import build_store
from tests.recovery.test_linkage_version import serve
from tests.recovery.test_sync_rows import snapshot, sync
from wire.linkage import KEYS_BY_TYPE, RECORD_TYPES


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sim") / "registry.sqlite3"
    build_store(path, generate_city(300, 1, 2026), source="test")
    return path


@pytest.fixture
def database(postgres_cluster: PostgresCluster, postgres_database_name: str) -> Iterator[str]:
    name = f"{postgres_database_name}_sync_rows"
    yield fresh_database(postgres_cluster, name)
    postgres_cluster.drop_database(name)


def build(url: str, schema: str, snapshot_bytes: bytes) -> None:
    for served in serve(snapshot_bytes):
        writer = PgReplicaWriter(url, schema)
        try:
            load_snapshot(served, 5.0, writer, SyncProgress())
            writer.finish({"seq": "0"})
        except Exception:
            writer.discard()
            raise


def pg_table(url: str, schema: str, rtype: str) -> list[tuple[Any, ...]]:
    order = sql.SQL(", ").join(sql.Identifier(k) for k in KEYS_BY_TYPE[rtype])
    with psycopg.connect(url) as conn:
        query = sql.SQL("SELECT * FROM {} ORDER BY {}").format(sql.Identifier(schema, rtype), order)
        return conn.execute(query).fetchall()


def schemas(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute("SELECT nspname FROM pg_namespace WHERE nspname LIKE 'replica%%'")]


def test_postgresql_builds_the_replica_sqlite_builds_in_both_encodings(
    store: Path,
    database: str,
    tmp_path: Path,
) -> None:
    list(sync(store, tmp_path / "rows.sqlite3", rows=True))
    build(database, "replica_rows", snapshot(store, rows=True))
    build(database, "replica_objects", snapshot(store, rows=False))
    for rtype in RECORD_TYPES:
        with sqlite3.connect(tmp_path / "rows.sqlite3") as conn:
            order = ", ".join(KEYS_BY_TYPE[rtype])
            expected = conn.execute(f"SELECT * FROM {rtype} ORDER BY {order}").fetchall()
        assert expected and pg_table(database, "replica_rows", rtype) == expected
        assert pg_table(database, "replica_objects", rtype) == expected
    with psycopg.connect(database) as conn:  # the keys and indexes were built after the copy
        indexes = {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'replica_rows'")
        }
    assert {"resident_household", "resident_kana", "resident_birth", "seal_owner"} <= indexes
    assert {f"{t}_pkey" for t in RECORD_TYPES} <= indexes


@pytest.mark.parametrize("rtype", ["tax", "resident", "household"])
def test_a_row_missing_a_value_fails_the_build_on_postgresql_and_leaves_no_schema(
    store: Path,
    database: str,
    rtype: str,
) -> None:
    with pytest.raises((SyncError, ReplicaBuildError), match=f"malformed {rtype} record"):
        build(database, "replica_broken", snapshot(store, rows=True, broken=rtype))
    assert schemas(database) == []


async def test_a_generation_of_another_schema_version_is_not_used_on_postgresql(
    store: Path, database: str
) -> None:
    with postgres.connect(database) as conn:
        migrate_postgres(conn)
    build(database, "replica_old", snapshot(store, rows=True))
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("UPDATE replica_old.meta SET value = '1' WHERE key = 'schema_version'")
        conn.execute("UPDATE sync_state SET replica_file = 'replica_old' WHERE id = 1")
    db = await postgres.PostgresDatabase.open(database, 1)
    try:
        generations = PgGenerations(db)
        await generations.attach_current()
        assert not generations.ready
        row = await db.fetchone("SELECT last_error FROM sync_state WHERE id = 1")
        assert (
            row is not None
            and "schema version 1" in row["last_error"]
            and "konbini-ops sync" in row["last_error"]
        )
        with psycopg.connect(database, autocommit=True) as conn:  # a generation of this version is used
            conn.execute(
                "UPDATE replica_old.meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION),)
            )
        await generations.attach_current()
        assert generations.ready and (await generations.meta())["seq"] == "0"
    finally:
        await db.close()
