"""The change generator: every kind of event, consistent records, increasing versions; over HTTP too."""

from __future__ import annotations

import asyncio
import sqlite3
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from registry_sim.changelog import StoreWriter
from registry_sim.events import KINDS, CityEvents
from registry_sim.generator import DEMO_HOUSEHOLD_NO
from registry_sim.server import make_app
from registry_sim.store import StoreReader
from wire.linkage import check_record, is_valid_kojin_bango, record_problem

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
Records = dict[str, dict[str, dict[str, Any]]]


def load(db: Path) -> Records:
    conn = sqlite3.connect(db)
    try:
        out: Records = defaultdict(dict)
        for rtype, key, version, body in conn.execute("SELECT type, key, version, body FROM records"):
            record = orjson.loads(body)
            assert record["version"] == version
            out[rtype][key] = record
        return out
    finally:
        conn.close()


def log_of(db: Path) -> list[tuple[int, str, str, str, int, dict[str, Any]]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT seq, type, key, op, version, entry FROM changes ORDER BY seq").fetchall()
        return [(s, t, k, op, v, orjson.loads(e)) for s, t, k, op, v, e in rows]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def churned(tmp_path_factory: pytest.TempPathFactory, seeded_db: Path) -> tuple[Path, Records, CityEvents]:
    """A copy of the seeded city after 4,000 generated changes, and the city before them."""
    db = tmp_path_factory.mktemp("churn") / "registry.sqlite3"
    db.write_bytes(seeded_db.read_bytes())
    before = load(db)
    writer = StoreWriter(db)
    events = CityEvents(seed=11)
    written = 0
    while written < 4000:
        with writer.batch() as batch:
            written += events.run(batch, 40)
    writer.close()
    return db, before, events


def test_every_kind_of_event_happens(churned: tuple[Path, Records, CityEvents]) -> None:
    _, _, events = churned
    assert set(events.done) == set(KINDS), set(KINDS) - set(events.done)
    assert events.errors == 0, events.last_error


def test_every_change_is_logged_with_the_next_seq_and_version(
    churned: tuple[Path, Records, CityEvents],
) -> None:
    db, before, _ = churned
    log = log_of(db)
    assert [row[0] for row in log] == list(range(1, len(log) + 1))
    assert StoreReader(db).state()[1] == len(log) >= 4000
    last: dict[tuple[str, str], int] = {}
    ops: Counter[tuple[str, str]] = Counter()
    for seq, rtype, key, op, version, entry in log:
        assert entry["seq"] == seq and (entry["t"], entry["key"], entry["op"]) == (rtype, key, op)
        previous = last.get((rtype, key), before[rtype][key]["version"] if key in before[rtype] else 0)
        assert version == previous + 1, (rtype, seq)
        last[(rtype, key)] = version
        ops[(op, rtype)] += 1
        if op == "upsert":
            assert check_record(entry["record"]) == rtype and entry["record"]["version"] == version
        else:
            assert entry["record"] is None
    after = load(db)
    for (rtype, key), version in last.items():
        assert after[rtype].get(key, {}).get("version", version) == version
    assert {("upsert", t) for t in ("household", "resident", "seal", "tax")} | {
        ("remove", "household")
    } <= set(ops)


def test_the_city_stays_consistent(churned: tuple[Path, Records, CityEvents]) -> None:
    db, before, _ = churned
    city = load(db)
    households, residents = city["household"], city["resident"]
    assert len(residents) > len(before["resident"])  # births and arrivals
    numbers = [r["kojin_bango"] for r in residents.values()]
    assert all(is_valid_kojin_bango(n) for n in numbers) and len(set(numbers)) == len(numbers)
    for h in households.values():
        assert h["head_atena_no"] in residents
    active_seals: Counter[str] = Counter()
    for s in city["seal"].values():
        assert s["owner_atena_no"] in residents
        if s["status"] == "active":
            active_seals[s["owner_atena_no"]] += 1
            assert residents[s["owner_atena_no"]]["status"] == "resident"
    assert max(active_seals.values()) == 1
    for t in city["tax"].values():
        assert t["owner_atena_no"] in residents
        assert record_problem({"t": "tax", **t}, "tax") is None  # instalments add up to the tax, paid <= due
    for r in residents.values():
        household = households[r["household_no"]]
        if r["status"] == "removed":
            assert r["removal_reason"] in ("moved_out", "died") and r["removal_date"]
            assert r["moveout_planned_date"] is None and r["in_transition"] == 0
            continue
        head = residents[household["head_atena_no"]]
        assert (r["address"], r["katagaki"]) == (household["address"], household["katagaki"])
        assert head["status"] == "resident" and r["householder_name"] == head["name"]


def test_the_demo_household_is_left_alone(churned: tuple[Path, Records, CityEvents]) -> None:
    db, before, _ = churned
    after = load(db)
    for rtype, records in before.items():
        for key, record in records.items():
            owner = record.get("owner_atena_no") or record.get("atena_no")
            if record.get("household_no") == DEMO_HOUSEHOLD_NO or owner in ("0000000001", "0000000002"):
                assert after[rtype][key] == record


async def test_generator_over_http(aiohttp_client: AiohttpClient, fresh_db: Path) -> None:
    client = await aiohttp_client(make_app(fresh_db))
    state = await (await client.get("/control/generate")).json()
    assert state["running"] is False and state["changes"] == 0
    resp = await client.post("/control/generate", json={"rate": 1000, "duration_s": 0.3, "seed": 3})
    state = await resp.json()
    assert state["running"] is True and state["rate"] == 1000 and state["seed"] == 3
    for _ in range(100):
        await asyncio.sleep(0.05)
        state = await (await client.get("/control/generate")).json()
        if not state["running"]:
            break
    assert not state["running"] and 0 < state["changes"] <= 300 + 50
    assert sum(state["events"].values()) > 0 and state["errors"] == 0
    health = await (await client.get("/health")).json()
    assert health["seq"] == state["changes"]
    await client.post("/control/generate", json={"rate": 50})
    assert (await (await client.get("/control/generate")).json())["running"] is True
    state = await (await client.post("/control/generate", json={"rate": 0})).json()
    assert state["running"] is False


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"rate": -1},
        {"rate": "5"},
        {"rate": 5, "duration_s": 0},
        {"rate": 5, "seed": 1.5},
        {"rate": 5, "x": 1},
    ],
)
async def test_bad_generator_settings(
    aiohttp_client: AiohttpClient, fresh_db: Path, body: dict[str, Any]
) -> None:
    client = await aiohttp_client(make_app(fresh_db))
    assert (await client.post("/control/generate", json=body)).status == 400


async def test_generate_rate_at_startup(aiohttp_client: AiohttpClient, fresh_db: Path) -> None:
    client = await aiohttp_client(make_app(fresh_db, generate_rate=500, generate_seed=2))
    await asyncio.sleep(0.2)
    state = await (await client.get("/control/generate")).json()
    assert state["running"] and state["seed"] == 2 and state["changes"] > 0
