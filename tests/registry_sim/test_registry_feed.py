"""The change feed, record versions, /records and /control/apply, in-process."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from registry_sim.changelog import StoreWriter
from registry_sim.generator import DEMO_ATENA_NO, DEMO_HOUSEHOLD_NO
from registry_sim.server import make_app
from registry_sim.store import StoreReader
from tests.factories import resident
from tests.registry_sim.follower import load_snapshot, read_feed

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
Client = TestClient[Any, Any]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, fresh_db: Path) -> Client:
    return await aiohttp_client(make_app(fresh_db))


async def get_record(client: Client, rtype: str, key: str) -> dict[str, Any]:
    resp = await client.get(f"/records/{rtype}/{key}")
    assert resp.status == 200
    record: dict[str, Any] = await resp.json()
    return record


async def apply(client: Client, *changes: dict[str, Any], status: int = 200) -> dict[str, Any]:
    resp = await client.post("/control/apply", json={"changes": list(changes)})
    assert resp.status == status, await resp.text()
    answer: dict[str, Any] = await resp.json()
    return answer


async def demo_seal(client: Client) -> dict[str, Any]:
    _header, records = await load_snapshot(client)
    return next(r for (t, _), r in records.items() if t == "seal" and r["owner_atena_no"] == DEMO_ATENA_NO)


def newcomer(atena_no: str = "0000990001") -> list[dict[str, Any]]:
    """A new household of one (upserts for its household and resident)."""
    person = resident(atena_no, household_no="0000990001", relationship="世帯主")
    household = {
        "t": "household",
        "household_no": "0000990001",
        "head_atena_no": atena_no,
        "address": person["address"],
        "katagaki": person["katagaki"],
        "version": 1,
    }
    return [{"op": "upsert", "record": household}, {"op": "upsert", "record": person}]


async def test_a_seeded_registry_starts_at_seq_0_with_an_empty_feed(client: Client) -> None:
    health = await (await client.get("/health")).json()
    assert health["seq"] == 0
    page = await (await client.get("/feed")).json()
    assert page == {"epoch": health["epoch"], "changes": [], "last_seq": 0}
    header, _ = await load_snapshot(client)
    assert (header["epoch"], header["seq"]) == (health["epoch"], 0)


async def test_applied_changes_are_in_the_feed_in_order_with_versions(client: Client) -> None:
    seal = await demo_seal(client)
    before = seal["version"]
    answer = await apply(client, {"op": "upsert", "record": seal | {"status": "abolished"}}, *newcomer())
    assert answer["seqs"] == [1, 2, 3] and answer["last_seq"] == 3
    assert answer["versions"] == [before + 1, 1, 1]
    changes, last_seq = await read_feed(client, 0)
    assert last_seq == 3 and [c["seq"] for c in changes] == [1, 2, 3]
    first = changes[0]
    assert (first["op"], first["t"], first["key"], first["version"]) == (
        "upsert",
        "seal",
        seal["seal_no"],
        before + 1,
    )
    assert first["record"] == seal | {"status": "abolished", "version": before + 1}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["at"])
    assert changes[2]["record"]["updated_at"].endswith("+09:00")  # the store stamps residents
    assert await get_record(client, "seal", seal["seal_no"]) == first["record"]
    header, _ = await load_snapshot(client)
    assert header["seq"] == 3


async def test_remove_is_logged_without_a_record_and_versions_never_go_back(client: Client) -> None:
    await apply(client, *newcomer())
    await apply(
        client,
        {"op": "remove", "t": "resident", "key": "0000990001"},
        {"op": "remove", "t": "household", "key": "0000990001"},
    )
    changes, _ = await read_feed(client, 2)
    assert [(c["op"], c["t"], c["version"], c["record"]) for c in changes] == [
        ("remove", "resident", 2, None),
        ("remove", "household", 2, None),
    ]
    assert (await client.get("/records/resident/0000990001")).status == 404
    again = await apply(client, *newcomer())
    assert again["versions"] == [3, 3]  # a key that comes back continues its versions


async def test_feed_pages(client: Client) -> None:
    seal = await demo_seal(client)
    for i in range(25):
        await apply(client, {"op": "upsert", "record": seal | {"impression": f"印{i}"}})
    everything, last_seq = await read_feed(client, 0, limit=1000)
    paged, _ = await read_feed(client, 0, limit=10)
    assert last_seq == 25 and paged == everything
    assert [c["record"]["impression"] for c in everything] == [f"印{i}" for i in range(25)]
    page = await (await client.get("/feed", params={"after": 20, "limit": 3})).json()
    assert [c["seq"] for c in page["changes"]] == [21, 22, 23] and page["last_seq"] == 25
    page = await (await client.get("/feed", params={"after": 0, "limit": 99999})).json()
    assert len(page["changes"]) == 25  # limit above the maximum is lowered to it
    page = await (await client.get("/feed", params={"after": 25})).json()
    assert page["changes"] == [] and page["last_seq"] == 25


@pytest.mark.parametrize("query", ["after=x", "after=-1", "limit=0", "limit=a"])
async def test_bad_feed_parameters(client: Client, query: str) -> None:
    resp = await client.get(f"/feed?{query}")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"


async def test_feed_refuses_a_seq_ahead_or_another_epoch(client: Client) -> None:
    health = await (await client.get("/health")).json()
    resp = await client.get("/feed", params={"after": 5})
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "seq_ahead" and error["last_seq"] == 0 and error["epoch"] == health["epoch"]
    resp = await client.get("/feed", params={"after": 0, "epoch": "another"})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "epoch_changed"
    resp = await client.get("/feed", params={"after": 0, "epoch": health["epoch"]})
    assert resp.status == 200


async def test_versions(client: Client) -> None:
    seal = await demo_seal(client)
    keys = [
        ["resident", DEMO_ATENA_NO],
        ["household", DEMO_HOUSEHOLD_NO],
        ["seal", seal["seal_no"]],
        ["tax", f"{DEMO_ATENA_NO}|2026"],
        ["resident", "9999999999"],
    ]
    answer = await (await client.post("/versions", json={"keys": keys})).json()
    resident_version = (await get_record(client, "resident", DEMO_ATENA_NO))["version"]
    assert answer["seq"] == 0 and answer["epoch"]
    assert answer["versions"] == {
        f"resident/{DEMO_ATENA_NO}": resident_version,
        f"household/{DEMO_HOUSEHOLD_NO}": 2,
        f"seal/{seal['seal_no']}": seal["version"],
        f"tax/{DEMO_ATENA_NO}|2026": 1,
        "resident/9999999999": None,
    }
    await apply(client, {"op": "upsert", "record": seal | {"status": "abolished"}})
    answer = await (await client.post("/versions", json={"keys": [["seal", seal["seal_no"]]]})).json()
    assert answer["seq"] == 1 and answer["versions"] == {f"seal/{seal['seal_no']}": seal["version"] + 1}
    many = [["resident", f"{i:010d}"] for i in range(1, 1001)]
    answer = await (await client.post("/versions", json={"keys": many})).json()
    assert len(answer["versions"]) == 1000
    assert all(isinstance(v, int) for v in answer["versions"].values())


@pytest.mark.parametrize(
    "body",
    [
        b"nope",
        b"[]",
        b"{}",
        b'{"keys": [["person", "1"]]}',
        b'{"keys": [["resident", 1]]}',
        b'{"keys": [["resident"]]}',
        b'{"keys": "resident/1"}',
    ],
)
async def test_bad_versions_requests(client: Client, body: bytes) -> None:
    resp = await client.post("/versions", data=body)
    assert resp.status == 400


async def test_too_many_version_keys(client: Client) -> None:
    resp = await client.post("/versions", json={"keys": [["resident", str(i)] for i in range(1001)]})
    assert resp.status == 400


async def test_records_endpoint(client: Client) -> None:
    assert (await get_record(client, "resident", DEMO_ATENA_NO))["atena_no"] == DEMO_ATENA_NO
    assert (await get_record(client, "tax", f"{DEMO_ATENA_NO}|2026"))["fiscal_year"] == 2026
    for path in ("/records/resident/9999999999", "/records/person/1"):
        resp = await client.get(path)
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    "change",
    [
        {"op": "upsert", "record": {"t": "seal", "seal_no": "1"}},  # fields missing
        {"op": "upsert", "record": {"t": "person"}},
        {"op": "upsert"},
        {"op": "remove", "t": "resident", "key": "9999999999"},
        {"op": "remove", "t": "household", "key": DEMO_HOUSEHOLD_NO},  # still has residents
        {"op": "remove", "t": "resident", "key": DEMO_ATENA_NO},  # owns seals, tax, heads a household
        {"op": "remove", "t": "person", "key": "1"},
        {"op": "rename"},
        "x",
    ],
)
async def test_bad_changes_are_refused_and_nothing_is_applied(client: Client, change: Any) -> None:
    seal = await demo_seal(client)
    ok = {"op": "upsert", "record": seal | {"status": "abolished"}}
    resp = await client.post("/control/apply", json={"changes": [ok, change]})
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == "bad_change" and error["index"] == 1
    assert (await (await client.get("/health")).json())["seq"] == 0
    assert (await get_record(client, "seal", seal["seal_no"]))["status"] == "active"


async def test_a_record_referring_to_nothing_is_refused(client: Client) -> None:
    seal = await demo_seal(client)
    orphan = seal | {"seal_no": "99999999", "owner_atena_no": "9999999999"}
    resp = await client.post("/control/apply", json={"changes": [{"op": "upsert", "record": orphan}]})
    assert resp.status == 400 and "owner_atena_no" in (await resp.json())["error"]["message"]
    household_only = newcomer()[:1]
    resp = await client.post("/control/apply", json={"changes": household_only})
    assert resp.status == 400  # its head does not exist


async def test_unknown_fields_and_wrong_types_are_refused(client: Client) -> None:
    seal = await demo_seal(client)
    for bad in (seal | {"colour": "red"}, seal | {"status": 1}, seal | {"seal_no": None}):
        resp = await client.post("/control/apply", json={"changes": [{"op": "upsert", "record": bad}]})
        assert resp.status == 400
    resp = await client.post("/control/apply", json={"changes": {}})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_request"


async def test_gap_is_visible_to_a_follower(client: Client) -> None:
    seal = await demo_seal(client)
    await apply(client, {"op": "upsert", "record": seal | {"impression": "一"}})
    lost = {"op": "upsert", "record": seal | {"impression": "二"}}
    answer = await (await client.post("/control/gap", json={"skip": 5, "changes": [lost]})).json()
    assert answer["skipped"] == [2, 6] and answer["last_seq"] == 6
    page = await (await client.get("/feed", params={"after": 1})).json()
    assert page["changes"] == [] and page["last_seq"] == 6  # nothing after 1, yet the registry is at 6
    after = await apply(client, {"op": "upsert", "record": seal | {"impression": "三"}})
    assert after["seqs"] == [7]
    changes, _ = await read_feed(client, 1)
    assert [c["seq"] for c in changes] == [7]
    assert changes[0]["version"] == seal["version"] + 3  # the lost change counted
    header, records = await load_snapshot(client)
    assert header["seq"] == 7 and records[("seal", seal["seal_no"])]["impression"] == "三"


@pytest.mark.parametrize("body", [{}, {"skip": 0}, {"skip": "1"}, {"skip": 1, "changes": [{}, {}]}])
async def test_bad_gaps_are_refused(client: Client, body: dict[str, Any]) -> None:
    assert (await client.post("/control/gap", json=body)).status == 400


async def test_reset_starts_a_new_epoch_and_keeps_the_data(client: Client) -> None:
    seal = await demo_seal(client)
    first = await apply(client, {"op": "upsert", "record": seal | {"status": "abolished"}})
    _, before = await load_snapshot(client)
    answer = await (await client.post("/control/reset")).json()
    assert answer["previous_epoch"] == first["epoch"] and answer["epoch"] != first["epoch"]
    assert answer["last_seq"] == 0
    resp = await client.get("/feed", params={"after": 1, "epoch": first["epoch"]})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "epoch_changed"
    resp = await client.get("/feed", params={"after": 1})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "seq_ahead"
    header, after = await load_snapshot(client)
    assert (header["epoch"], header["seq"]) == (answer["epoch"], 0) and after == before
    again = await apply(client, {"op": "upsert", "record": seal})
    assert again["seqs"] == [1] and again["versions"] == [seal["version"] + 2]


async def test_keep_changes_drops_old_changes(aiohttp_client: AiohttpClient, fresh_db: Path) -> None:
    client = await aiohttp_client(make_app(fresh_db, keep_changes=5))
    seal = await demo_seal(client)
    for i in range(10):
        await apply(client, {"op": "upsert", "record": seal | {"impression": str(i)}})
    resp = await client.get("/feed", params={"after": 4})
    assert resp.status == 409
    error = (await resp.json())["error"]
    assert error["code"] == "seq_expired" and error["pruned_through"] == 5
    changes, _ = await read_feed(client, 5)
    assert [c["seq"] for c in changes] == [6, 7, 8, 9, 10]


def test_a_store_built_before_the_change_log_is_brought_up_to_date(tmp_path: Path, seeded_db: Path) -> None:
    legacy = tmp_path / "legacy.sqlite3"
    conn = sqlite3.connect(legacy)
    conn.executescript(
        "CREATE TABLE records (type TEXT NOT NULL, key TEXT NOT NULL, version INTEGER NOT NULL,"
        " seq INTEGER NOT NULL, body BLOB NOT NULL, PRIMARY KEY (type, key)) WITHOUT ROWID;"
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);"
    )
    conn.execute("ATTACH ? AS seeded", (str(seeded_db),))
    conn.execute("INSERT INTO records SELECT type, key, version, 3, body FROM seeded.records")
    conn.execute("INSERT INTO meta SELECT name, value FROM seeded.meta WHERE name IN ('counts', 'source')")
    conn.execute("INSERT INTO meta VALUES ('seq', '3')")
    conn.commit()
    conn.close()
    writer = StoreWriter(legacy)
    with writer.batch() as batch:
        assert len(batch.children("resident", DEMO_HOUSEHOLD_NO)) == 3
        assert batch.epoch and batch.seq == 3
        seal = batch.children("seal", DEMO_ATENA_NO)[0]
        assert batch.upsert(seal | {"status": "abolished"}) == 4
    writer.close()
    assert StoreReader(legacy).state()[1] == 4
