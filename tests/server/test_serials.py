"""Certificate serials: numbered per day within a series, and a series is never shared between two
databases or across a restore."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

from issuance_server.issuing import serials
from issuance_server.storage.database import Database, SqliteTx
from issuance_server.storage.migrate import prepare_database

SERIAL = re.compile(r"^(\d{8})-([0-9A-F]{6})-(\d{6})$")


async def allocate(db_path: Path, day: str, n: int) -> list[str]:
    db = await Database.open(db_path)
    try:
        return await db.write(lambda tx: [serials.allocate(tx, day) for _ in range(n)])
    finally:
        await db.close()


async def test_serials_count_up_per_day_within_one_series(tmp_path: Path) -> None:
    prepare_database(tmp_path / "a.sqlite3")
    first = await allocate(tmp_path / "a.sqlite3", "20261130", 3)
    next_day = await allocate(tmp_path / "a.sqlite3", "20261201", 1)
    parts = [SERIAL.match(s) for s in first + next_day]
    assert all(parts), first + next_day
    assert [int(m[3]) for m in parts if m] == [1, 2, 3, 1]
    assert len({m[2] for m in parts if m}) == 1  # one series
    assert [m[1] for m in parts if m] == ["20261130"] * 3 + ["20261201"]


async def test_two_databases_never_share_a_serial(tmp_path: Path) -> None:
    prepare_database(tmp_path / "a.sqlite3")
    prepare_database(tmp_path / "b.sqlite3")
    a = await allocate(tmp_path / "a.sqlite3", "20261130", 1)
    b = await allocate(tmp_path / "b.sqlite3", "20261130", 1)
    assert a[0] != b[0]
    assert a[0].endswith("-000001") and b[0].endswith("-000001")


async def test_a_new_series_numbers_afresh_under_another_prefix(tmp_path: Path) -> None:
    path = tmp_path / "a.sqlite3"
    prepare_database(path)
    before = await allocate(path, "20261130", 2)
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        prefix = serials.start_series(SqliteTx(conn), "restore")
        conn.execute("COMMIT")
        reasons = [r[0] for r in conn.execute("SELECT reason FROM serial_series ORDER BY rowid")]
    finally:
        conn.close()
    after = await allocate(path, "20261130", 1)
    assert after[0] == f"20261130-{prefix}-000001"
    assert after[0] not in before
    assert reasons == ["created", "restore"]
