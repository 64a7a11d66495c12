"""Applying feed changes to the replica: indexed columns (a resident's household, name reading, birth date;
a seal's owner) are written only by the newest change and only when they differ, and the indexes always
agree with the table, on both engines."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from issuance_server.replica.generations import replica_of, unfenced
from issuance_server.storage.database import Database
from issuance_server.storage.engine import Engine
from issuance_server.storage.migrate import prepare_database
from issuance_server.storage.postgres import PostgresDatabase
from recovery.feed_apply import apply_batch
from recovery.feed_page import Change
from tests.factories import resident, seal
from wire.linkage import FIELDS_BY_TYPE


def values(record: dict[str, Any]) -> list[Any]:
    return [record[f] for f in FIELDS_BY_TYPE[record["t"]]]


class Feed:
    """Changes numbered one after the other, each a whole record."""

    def __init__(self) -> None:
        self.seq = 0

    def upsert(self, record: dict[str, Any], key: str) -> Change:
        self.seq += 1
        return Change(self.seq, "upsert", record["t"], key, record["version"], "", values(record))


@pytest.fixture
async def db(tmp_path: Path, database_url: str) -> AsyncIterator[Engine]:
    """A replica of two residents and a seal, on each engine."""
    database: Engine
    if database_url:
        database = await PostgresDatabase.open(database_url, 1)
    else:
        prepare_database(tmp_path / "server.sqlite3")
        database = await Database.open(tmp_path / "server.sqlite3", readers=1)
    replica = replica_of(database, tmp_path)
    name = replica.new_generation("test")
    writer = replica.writer(name)
    writer.insert(
        "resident", [values(resident(f"000000000{i}", household_no="0000000010", version=1)) for i in (1, 2)]
    )
    writer.insert("seal", [values({**seal("0000000501", "0000000001"), "version": 1})])
    await asyncio.to_thread(writer.finish, {"seq": "0"})
    await replica.switch_to(name, 0, "t", "t", unfenced)
    yield database
    await database.close()


async def by_index(db: Engine, sql: str, param: str) -> list[str]:
    """The rows found through the index named (SQLite's ``INDEXED BY``; PostgreSQL picks its own plan, and
    ``integrity`` checks its indexes against the tables)."""
    if db.kind == "postgresql":
        sql = re.sub(r" INDEXED BY \w+", "", sql)
    return [next(iter(dict(row).values())) for row in await db.fetchall(sql, (param,))]


async def integrity(db: Engine) -> str:
    """'ok' when every index of the replica agrees with its table (SQLite's integrity check; PostgreSQL's
    amcheck, which raises on an index that does not)."""
    if db.kind == "postgresql":
        await db.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
        checked = await db.fetchall(
            "SELECT bt_index_parent_check(i.indexrelid, true) FROM pg_index i JOIN pg_class c ON c.oid ="
            " i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname LIKE 'replica\\_%'"
        )
        return "ok" if len(checked) >= 6 else f"only {len(checked)} indexes checked"  # 4 keys, 4 named
    row = await db.fetchone("PRAGMA replica.integrity_check")
    return "" if row is None else str(row["integrity_check"])


async def household_members(db: Engine, household_no: str) -> list[str]:
    sql = "SELECT atena_no FROM replica.resident INDEXED BY resident_household WHERE household_no = ? ORDER BY 1"
    return await by_index(db, sql, household_no)


async def test_a_move_to_another_household_moves_the_index_entry_and_an_older_change_does_not(
    db: Engine,
) -> None:
    feed = Feed()
    moved = resident("0000000001", household_no="0000000020", version=2)
    readdressed = resident(
        "0000000002", household_no="0000000010", address="鹿児島市山下町11番1号", version=2
    )
    await apply_batch(
        db, [feed.upsert(moved, "0000000001"), feed.upsert(readdressed, "0000000002")], 0, unfenced
    )
    assert await household_members(db, "0000000020") == ["0000000001"]
    assert await household_members(db, "0000000010") == ["0000000002"]
    row = await db.fetchone("SELECT address, version FROM replica.resident WHERE atena_no = '0000000002'")
    assert row is not None and (row["address"], row["version"]) == ("鹿児島市山下町11番1号", 2)
    # an older version arriving late (a replay upstream) changes nothing, indexed or not
    stale = resident("0000000001", household_no="0000000010", name_kana="フルイ", version=1)
    await apply_batch(db, [feed.upsert(stale, "0000000001")], 2, unfenced)
    assert await household_members(db, "0000000020") == ["0000000001"]
    kana = "SELECT atena_no FROM replica.resident INDEXED BY resident_kana WHERE name_kana = ?"
    assert await by_index(db, kana, "フルイ") == []
    assert await integrity(db) == "ok"


async def test_a_new_record_and_a_changed_reading_and_owner_are_found_by_their_indexes(db: Engine) -> None:
    feed = Feed()
    born = resident("0000000003", household_no="0000000010", birth_date="2026-11-30", version=1)
    renamed = resident("0000000002", household_no="0000000010", name_kana="アタラシイ", version=3)
    handed = {**seal("0000000501", "0000000002"), "version": 2}
    changes = [
        feed.upsert(born, "0000000003"),
        feed.upsert(renamed, "0000000002"),
        feed.upsert(handed, "0000000501"),
    ]
    await apply_batch(db, changes, 0, unfenced)
    birth = "SELECT atena_no FROM replica.resident INDEXED BY resident_birth WHERE birth_date = ?"
    assert await by_index(db, birth, "2026-11-30") == ["0000000003"]
    kana = "SELECT atena_no FROM replica.resident INDEXED BY resident_kana WHERE name_kana = ?"
    assert await by_index(db, kana, "アタラシイ") == ["0000000002"]
    owner = "SELECT seal_no FROM replica.seal INDEXED BY seal_owner WHERE owner_atena_no = ?"
    assert await by_index(db, owner, "0000000002") == ["0000000501"]
    assert await by_index(db, owner, "0000000001") == []
    assert await household_members(db, "0000000010") == ["0000000001", "0000000002", "0000000003"]
    # the same page again (a retry after a lost answer): skipped by the checkpoint, nothing changes
    assert await apply_batch(db, changes, 3, unfenced) == 3
    assert await integrity(db) == "ok"
