"""One shared aiosqlite connection, used by every request under one lock.

Requests interleave on the event loop; without the lock one request's statements could land inside
another's open transaction (and be rolled back with it), or read a replica mid-switch.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from issuance_server.storage import open_database

Params = Iterable[Any] | Mapping[str, Any]


class Transaction:
    """Statements inside ``async with db.transaction() as tx``: committed together or not at all."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self.conn.execute(sql, params)
        count = cur.rowcount
        await cur.close()
        return count

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        async with self.conn.execute(sql, params) as cur:
            return await cur.fetchone()

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        async with self.conn.execute(sql, params) as cur:
            return list(await cur.fetchall())


class Database:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self.conn = conn
        self.lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Database:
        return cls(await open_database(path))

    @asynccontextmanager
    async def transaction(self, write: bool = True) -> AsyncIterator[Transaction]:
        async with self.lock:
            await self.conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                yield Transaction(self.conn)
            except BaseException:
                await self.conn.execute("ROLLBACK")
                raise
            await self.conn.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> int:
        async with self.lock:
            return await Transaction(self.conn).execute(sql, params)

    async def executescript(self, script: str) -> None:
        async with self.lock:
            await self.conn.executescript(script)

    async def fetchone(self, sql: str, params: Params = ()) -> aiosqlite.Row | None:
        async with self.lock:
            return await Transaction(self.conn).fetchone(sql, params)

    async def fetchall(self, sql: str, params: Params = ()) -> list[aiosqlite.Row]:
        async with self.lock:
            return await Transaction(self.conn).fetchall(sql, params)

    async def close(self) -> None:
        await self.conn.close()
