"""Statements and whole write transactions as single calls on the writer's thread: what they return,
and that a write transaction is all or nothing."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from issuance_server.storage.database import Database
from issuance_server.storage.engine import Tx
from issuance_server.storage.migrate import prepare_database


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    prepare_database(tmp_path / "server.sqlite3")
    database = await Database.open(tmp_path / "server.sqlite3", readers=1)
    await database.execute("CREATE TABLE t (n INTEGER PRIMARY KEY, word TEXT)")
    yield database
    await database.close()


async def test_statements_return_rows_and_counts(db: Database) -> None:
    async with db.transaction() as tx:
        for n, word in enumerate(["a", "b", "c"]):
            await tx.execute("INSERT INTO t VALUES (?, ?)", (n, word))
        assert await tx.execute("UPDATE t SET word = word || '!' WHERE n >= ?", (1,)) == 2
        first = await tx.fetchone("SELECT n, word FROM t ORDER BY n DESC")  # the first of three rows
        assert first is not None and (first["n"], first["word"]) == (2, "c!")
        assert first["word"] == "c!"  # rows by name, as before
        assert await tx.fetchone("SELECT n FROM t WHERE n = 99") is None
    assert [(r["n"], r["word"]) for r in await db.fetchall("SELECT n, word FROM t ORDER BY n")] == [
        (0, "a"),
        (1, "b!"),
        (2, "c!"),
    ]


async def test_write_commits_what_fn_wrote_and_returns_its_result(db: Database) -> None:
    def fn(tx: Tx) -> int:
        tx.execute("INSERT INTO t VALUES (1, 'one')")
        tx.execute("INSERT INTO t VALUES (2, 'two')")
        return int(tx.value("SELECT count(*) FROM t"))

    assert await db.write(fn) == 2
    assert [r["word"] for r in await db.fetchall("SELECT word FROM t ORDER BY n")] == ["one", "two"]
    assert not db.conn.in_transaction


async def test_read_runs_fn_on_a_reader_in_one_read_transaction(db: Database) -> None:
    await db.write(lambda tx: tx.execute("INSERT INTO t VALUES (1, 'one')"))

    def fn(tx: Tx) -> tuple[int, str]:
        row = tx.one("SELECT n, word FROM t")
        assert row is not None
        return int(row["n"]), str(row["word"])

    assert await db.read(fn) == (1, "one")
    with pytest.raises(sqlite3.OperationalError):  # a reader is read-only
        await db.read(lambda tx: tx.execute("INSERT INTO t VALUES (2, 'two')"))
    assert await db.read(lambda tx: tx.value("SELECT count(*) FROM t")) == 1


async def test_write_rolls_back_everything_when_fn_raises(db: Database) -> None:
    def fn(tx: Tx) -> None:
        tx.execute("INSERT INTO t VALUES (1, 'one')")
        tx.execute("INSERT INTO t VALUES (1, 'again')")  # the primary key: IntegrityError

    with pytest.raises(sqlite3.IntegrityError):
        await db.write(fn)
    assert await db.fetchall("SELECT * FROM t") == []
    assert not db.conn.in_transaction
    await db.write(lambda tx: tx.execute("INSERT INTO t VALUES (3, 'three')"))  # the writer is free
    assert [r["n"] for r in await db.fetchall("SELECT n FROM t")] == [3]
