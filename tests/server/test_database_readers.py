"""Read connections beside the one writer: reads never wait behind a write, never write, and a read sees
one replica generation from its first statement to its last while a sync switches generations."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from issuance_server.replica.generations import unfenced
from issuance_server.replica.store import Replica
from issuance_server.storage.database import Database
from issuance_server.storage.migrate import prepare_database

# Generous: only a read stuck behind the writer's lock would take this long.
STUCK_S = 10.0


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    prepare_database(tmp_path / "server.sqlite3")
    database = await Database.open(tmp_path / "server.sqlite3", readers=2)
    yield database
    await database.close()


def generation(replica: Replica, name: str) -> str:
    """A replica generation whose ``meta`` says ``name`` (and nothing else)."""
    file = replica.new_generation(name)
    replica.writer(file).finish({"generation": name})
    return file


async def test_a_read_does_not_wait_behind_an_open_write(db: Database) -> None:
    writing, release = asyncio.Event(), asyncio.Event()

    async def long_write() -> None:
        async with db.transaction() as tx:
            await tx.execute("INSERT INTO schema_migrations VALUES (9999, 'uncommitted')")
            writing.set()
            await release.wait()

    writer = asyncio.create_task(long_write())
    await writing.wait()
    row = await asyncio.wait_for(
        db.fetchone("SELECT count(*) AS n FROM schema_migrations WHERE number = 9999"), STUCK_S
    )
    assert row is not None and row["n"] == 0  # the write is not committed yet: not seen
    async with asyncio.timeout(STUCK_S):
        async with db.transaction(write=False) as tx:
            assert await tx.fetchone("SELECT name FROM schema_migrations WHERE number = 9999") is None
    release.set()
    await writer
    row = await db.fetchone("SELECT name FROM schema_migrations WHERE number = 9999")
    assert row is not None and row["name"] == "uncommitted"  # committed: every later read sees it


async def test_a_read_transaction_cannot_write(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        async with db.transaction(write=False) as tx:
            await tx.execute("INSERT INTO schema_migrations VALUES (9998, 'x')")
    assert await db.fetchone("SELECT 1 FROM schema_migrations WHERE number = 9998") is None


async def test_a_read_sees_one_generation_while_a_sync_switches(db: Database, tmp_path: Path) -> None:
    replica = Replica(db, tmp_path)
    first = generation(replica, "g1")
    await replica.switch_to(first, 1, "t", "t", unfenced)
    query = "SELECT value FROM replica.meta WHERE key = 'generation'"
    reading, go_on = asyncio.Event(), asyncio.Event()

    async def long_read() -> tuple[str, str]:
        async with db.transaction(write=False) as tx:
            before = await tx.fetchone(query)
            reading.set()
            await go_on.wait()
            after = await tx.fetchone(query)
        assert before is not None and after is not None
        return before["value"], after["value"]

    read = asyncio.create_task(long_read())
    await reading.wait()
    switch = asyncio.create_task(replica.switch_to(generation(replica, "g2"), 2, "t", "t", unfenced))
    await asyncio.sleep(0.2)
    assert not switch.done()  # it waits for the read that still reads the old generation
    row = await asyncio.wait_for(db.fetchone(query), STUCK_S)  # meanwhile the other reader answers
    assert row is not None and row["value"] in ("g1", "g2")
    go_on.set()
    assert await read == ("g1", "g1")
    previous = await switch
    assert previous == first
    replica.remove_generation(first)  # no reader reads it any more
    for _ in range(4):  # every reader now reads the new generation
        row = await db.fetchone(query)
        assert row is not None and row["value"] == "g2"


async def test_reads_during_repeated_switches_each_see_one_generation(db: Database, tmp_path: Path) -> None:
    replica = Replica(db, tmp_path)
    await replica.switch_to(generation(replica, "g0"), 0, "t", "t", unfenced)
    query = "SELECT value FROM replica.meta WHERE key = 'generation'"
    seen: list[tuple[str, str]] = []
    stop = asyncio.Event()

    async def reads() -> None:
        while not stop.is_set():
            async with db.transaction(write=False) as tx:
                a = await tx.fetchone(query)
                await asyncio.sleep(0)
                b = await tx.fetchone(query)
            assert a is not None and b is not None
            seen.append((a[0], b[0]))

    readers = [asyncio.create_task(reads()) for _ in range(3)]
    for n in range(1, 6):
        previous = await replica.switch_to(generation(replica, f"g{n}"), n, "t", "t", unfenced)
        if previous:
            replica.remove_generation(previous)
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*readers)
    assert seen and all(a == b for a, b in seen)
    assert len({a for a, _ in seen}) > 1  # the reads did run across switches
