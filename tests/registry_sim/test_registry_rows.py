"""Issue 15: the rows encoding of the snapshot and the feed (?encoding=rows) carries the same records as
the objects, the snapshot interleaves the types, and a store written before the encoding serves it too."""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestClient

from registry_sim.server import make_app
from registry_sim.store import holds_rows, record_key
from tests.factories import resident
from tests.registry_sim.follower import load_snapshot, read_body
from tests.registry_sim.test_registry_feed import apply
from wire.linkage import ROW_FIELDS, ROWS, is_valid_kojin_bango, kojin_bango_check_digit, row_record

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


async def rows_snapshot(client: TestClient[Any, Any]) -> tuple[dict[str, Any], list[list[Any]]]:
    resp = await client.get("/snapshot", params={"encoding": ROWS})
    data, complete = await read_body(resp)
    assert resp.status == 200 and complete
    lines = [orjson.loads(line) for line in data.splitlines()]
    assert lines[0]["t"] == "header" and lines[-1]["t"] == "end"
    return lines[0], lines[1:-1]


async def test_a_rows_snapshot_is_the_object_snapshot_interleaved(
    aiohttp_client: AiohttpClient, fresh_db: Path
) -> None:
    client = await aiohttp_client(make_app(fresh_db))
    header, rows = await rows_snapshot(client)
    _, records = await load_snapshot(client)
    assert header["encoding"] == ROWS and header["fields"] == ROW_FIELDS
    assert {(r["t"], record_key(r)): r for r in map(row_record, rows)} == records
    types = [row[0] for row in rows]
    runs = sum(1 for a, b in itertools.pairwise(types) if a != b)
    assert runs > 4  # interleaved, not one type after the other
    for rtype in ROW_FIELDS:  # each type in key order
        keys = [record_key(row_record(r)) for r in rows if r[0] == rtype]
        assert keys == sorted(keys)


async def test_feed_rows_carry_the_records(aiohttp_client: AiohttpClient, fresh_db: Path) -> None:
    client = await aiohttp_client(make_app(fresh_db))
    person = resident("0000000002", household_no="0000000001")
    await apply(client, {"op": "upsert", "record": {**person, "name_kana": "なかむら　みさき"}})
    objects = await (await client.get("/feed", params={"after": 0})).json()
    rows = await (await client.get("/feed", params={"after": 0, "encoding": ROWS})).json()
    assert [c.pop("record") for c in objects["changes"]] == [
        row_record(c.pop("row")) for c in rows["changes"]
    ]
    assert objects == rows


async def test_a_store_from_before_rows_serves_them(aiohttp_client: AiohttpClient, fresh_db: Path) -> None:
    client = await aiohttp_client(make_app(fresh_db))
    person = resident("0000000002", household_no="0000000001")
    await apply(client, {"op": "upsert", "record": person})
    expected = await (await client.get("/feed", params={"after": 0, "encoding": ROWS})).json()
    _, before = await rows_snapshot(client)
    assert holds_rows(fresh_db)
    with sqlite3.connect(fresh_db) as conn:  # as if written before: no row kept
        conn.execute("UPDATE records SET row = NULL")
        conn.execute("UPDATE changes SET row_entry = NULL")
    assert not holds_rows(fresh_db)  # what the benches check before reusing a store
    assert (await rows_snapshot(client))[1] == before
    assert await (await client.get("/feed", params={"after": 0, "encoding": ROWS})).json() == expected


def test_the_check_digit_weights_are_the_laws_formula() -> None:
    for n in range(0, 10**11, 7_919_999):
        first = f"{n:011d}"
        digit = kojin_bango_check_digit(first)
        assert is_valid_kojin_bango(first + str(digit))
        assert not is_valid_kojin_bango(first + str((digit + 1) % 10))
