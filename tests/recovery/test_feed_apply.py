"""Applying feed changes to the replica: indexed columns (a resident's household, name reading, birth date;
a seal's owner) are written only by the newest change and only when they differ, and the indexes always
agree with the table."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from issuance_server.replica.store import Replica
from issuance_server.storage.database import Database
from issuance_server.storage.migrate import prepare_database
from recovery.feed_apply import apply_batch
from recovery.registry_client import Change
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
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    prepare_database(tmp_path / "server.sqlite3")
    database = await Database.open(tmp_path / "server.sqlite3", readers=1)
    replica = Replica(database, tmp_path)
    name = replica.new_generation("test")
    writer = replica.writer(name)
    writer.insert(
        "resident", [values(resident(f"000000000{i}", household_no="0000000010", version=1)) for i in (1, 2)]
    )
    writer.insert("seal", [values({**seal("0000000501", "0000000001"), "version": 1})])
    writer.finish({"seq": "0"})
    await replica.switch_to(name, 0, "t", "t")
    yield database
    await database.close()


async def by_index(db: Database, sql: str, param: str) -> list[str]:
    return [next(iter(dict(row).values())) for row in await db.fetchall(sql, (param,))]


async def integrity(db: Database) -> str:
    row = await db.fetchone("PRAGMA replica.integrity_check")
    return "" if row is None else str(row["integrity_check"])


async def household_members(db: Database, household_no: str) -> list[str]:
    sql = "SELECT atena_no FROM replica.resident INDEXED BY resident_household WHERE household_no = ? ORDER BY 1"
    return await by_index(db, sql, household_no)


async def test_a_move_to_another_household_moves_the_index_entry_and_an_older_change_does_not(
    db: Database,
) -> None:
    feed = Feed()
    moved = resident("0000000001", household_no="0000000020", version=2)
    readdressed = resident(
        "0000000002", household_no="0000000010", address="鹿児島市山下町11番1号", version=2
    )
    await apply_batch(db, [feed.upsert(moved, "0000000001"), feed.upsert(readdressed, "0000000002")], 0)
    assert await household_members(db, "0000000020") == ["0000000001"]
    assert await household_members(db, "0000000010") == ["0000000002"]
    row = await db.fetchone("SELECT address, version FROM replica.resident WHERE atena_no = '0000000002'")
    assert row is not None and (row["address"], row["version"]) == ("鹿児島市山下町11番1号", 2)
    # an older version arriving late (a replay upstream) changes nothing, indexed or not
    stale = resident("0000000001", household_no="0000000010", name_kana="フルイ", version=1)
    await apply_batch(db, [feed.upsert(stale, "0000000001")], 2)
    assert await household_members(db, "0000000020") == ["0000000001"]
    kana = "SELECT atena_no FROM replica.resident INDEXED BY resident_kana WHERE name_kana = ?"
    assert await by_index(db, kana, "フルイ") == []
    assert await integrity(db) == "ok"


async def test_a_new_record_and_a_changed_reading_and_owner_are_found_by_their_indexes(db: Database) -> None:
    feed = Feed()
    born = resident("0000000003", household_no="0000000010", birth_date="2026-11-30", version=1)
    renamed = resident("0000000002", household_no="0000000010", name_kana="アタラシイ", version=3)
    handed = {**seal("0000000501", "0000000002"), "version": 2}
    changes = [
        feed.upsert(born, "0000000003"),
        feed.upsert(renamed, "0000000002"),
        feed.upsert(handed, "0000000501"),
    ]
    await apply_batch(db, changes, 0)
    birth = "SELECT atena_no FROM replica.resident INDEXED BY resident_birth WHERE birth_date = ?"
    assert await by_index(db, birth, "2026-11-30") == ["0000000003"]
    kana = "SELECT atena_no FROM replica.resident INDEXED BY resident_kana WHERE name_kana = ?"
    assert await by_index(db, kana, "アタラシイ") == ["0000000002"]
    owner = "SELECT seal_no FROM replica.seal INDEXED BY seal_owner WHERE owner_atena_no = ?"
    assert await by_index(db, owner, "0000000002") == ["0000000501"]
    assert await by_index(db, owner, "0000000001") == []
    assert await household_members(db, "0000000010") == ["0000000001", "0000000002", "0000000003"]
    # the same page again (a retry after a lost answer): skipped by the checkpoint, nothing changes
    assert await apply_batch(db, changes, 3) == 3
    assert await integrity(db) == "ok"
