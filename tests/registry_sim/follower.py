"""A minimal follower of the registry sim for tests: snapshot, then the feed, into a dict of records."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp.test_utils import TestClient

from registry_sim.store import record_key

Records = dict[tuple[str, str], dict[str, Any]]


async def read_body(resp: aiohttp.ClientResponse, chunk: int = 1 << 16) -> tuple[bytes, bool]:
    """The body as far as it came, and whether it ended properly."""
    data = b""
    try:
        async for part in resp.content.iter_chunked(chunk):
            data += part
    except aiohttp.ClientPayloadError:
        return data, False
    return data, True


async def load_snapshot(client: TestClient[Any, Any]) -> tuple[dict[str, Any], Records]:
    """(header, records by (type, key)) of a complete snapshot."""
    resp = await client.get("/snapshot")
    assert resp.status == 200
    data, complete = await read_body(resp)
    assert complete
    lines = [orjson.loads(line) for line in data.splitlines()]
    header, end, records = lines[0], lines[-1], lines[1:-1]
    assert header["t"] == "header" and end["t"] == "end"
    return header, {(r["t"], record_key(r)): r for r in records}


async def read_feed(
    client: TestClient[Any, Any], after: int, epoch: str | None = None, limit: int = 1000
) -> tuple[list[dict[str, Any]], int]:
    """Every change after ``after`` (page by page) and the last seq; asserts the pages are in order."""
    changes: list[dict[str, Any]] = []
    while True:
        params: dict[str, str | int] = {"after": after, "limit": limit}
        if epoch:
            params["epoch"] = epoch
        resp = await client.get("/feed", params=params)
        assert resp.status == 200, await resp.text()
        page = await resp.json()
        seqs = [c["seq"] for c in page["changes"]]
        assert seqs == sorted(seqs) and all(s > after for s in seqs)
        changes += page["changes"]
        if not page["changes"]:
            return changes, page["last_seq"]
        after = seqs[-1]


def apply(records: Records, changes: list[dict[str, Any]]) -> None:
    for change in changes:
        key = (change["t"], change["key"])
        if change["op"] == "upsert":
            records[key] = change["record"]
        else:
            del records[key]
