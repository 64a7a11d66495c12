"""A snapshot taken while changes flow, plus the feed after its seq, equals a fresh snapshot."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from registry_sim.server import make_app
from registry_sim.store import record_key
from tests.registry_sim.follower import apply, load_snapshot, read_body, read_feed

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def seq_beyond(client: TestClient[Any, Any], seq: int) -> int:
    """Wait (polling /health, at most 60 s) until the generator has written past ``seq``: no fixed sleep,
    so a slow or busy machine only takes longer."""
    for _ in range(6000):
        now = int((await (await client.get("/health")).json())["seq"])
        if now > seq:
            return now
        await asyncio.sleep(0.01)
    raise AssertionError(f"the generator wrote nothing past seq {seq} in 60 s")


async def slow_snapshot(client: TestClient[Any, Any]) -> tuple[dict[str, Any], dict[tuple[str, str], Any]]:
    """A snapshot read in small pieces, held after its first piece until the generator has written past
    the snapshot's seq: changes are written while it streams."""
    resp = await client.get("/snapshot")
    data = b""
    async for part in resp.content.iter_chunked(16 * 1024):
        if not data:
            data = part
            await seq_beyond(client, orjson.loads(data.split(b"\n", 1)[0])["seq"])
            continue
        data += part
        await asyncio.sleep(0.005)
    lines = [orjson.loads(line) for line in data.splitlines()]
    assert lines[-1]["t"] == "end"
    return lines[0], {(r["t"], record_key(r)): r for r in lines[1:-1]}


async def test_snapshot_then_feed_misses_nothing_and_repeats_nothing(
    aiohttp_client: AiohttpClient, fresh_db: Path
) -> None:
    client = await aiohttp_client(make_app(fresh_db))
    await client.post("/control/generate", json={"rate": 3000, "seed": 9})
    await seq_beyond(client, 0)
    header, replica = await slow_snapshot(client)
    during = (await (await client.get("/health")).json())["seq"]
    assert during > header["seq"] > 0  # changes were written while the snapshot streamed
    changes, _ = await read_feed(client, header["seq"], epoch=header["epoch"], limit=100)
    apply(replica, changes)
    await seq_beyond(client, changes[-1]["seq"])
    await client.post("/control/generate", json={"rate": 0})
    more, last_seq = await read_feed(client, changes[-1]["seq"], epoch=header["epoch"])
    apply(replica, more)
    seqs = [c["seq"] for c in changes + more]
    assert seqs == list(range(header["seq"] + 1, last_seq + 1))  # nothing missed, nothing twice
    fresh_header, fresh = await load_snapshot(client)
    assert fresh_header["seq"] == last_seq
    assert replica == fresh


async def test_a_page_and_its_last_seq_belong_to_one_moment(
    aiohttp_client: AiohttpClient, fresh_db: Path
) -> None:
    client = await aiohttp_client(make_app(fresh_db))
    await client.post("/control/generate", json={"rate": 5000, "seed": 4})
    try:
        after = 0
        for _ in range(30):
            resp = await client.get("/feed", params={"after": after, "limit": 50})
            page = await resp.json()
            if page["changes"]:
                assert page["changes"][-1]["seq"] <= page["last_seq"]
                after = page["changes"][-1]["seq"]
            await asyncio.sleep(0.01)
    finally:
        await client.post("/control/generate", json={"rate": 0})
    data, complete = await read_body(await client.get("/feed", params={"after": after}))
    assert complete and orjson.loads(data)["last_seq"] >= after
