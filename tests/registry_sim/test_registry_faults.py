"""Each fault on /feed, /versions and /snapshot (and that /control/* is never affected)."""

from __future__ import annotations

import asyncio
import http.client
import itertools
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from registry_sim.faults import Faults
from registry_sim.generator import DEMO_ATENA_NO
from registry_sim.server import make_app
from tests.registry_sim.follower import read_body
from wire.linkage import LinkageError, check_record

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]
Client = TestClient[Any, Any]
VERSIONS = {"keys": [["resident", DEMO_ATENA_NO], ["resident", "0000000002"]]}


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, fresh_db: Path) -> Client:
    """A sim with 20 changes in its log."""
    c = await aiohttp_client(make_app(fresh_db))
    seal = await (await c.get("/records/seal/00000001")).json()
    changes = [{"op": "upsert", "record": seal | {"impression": f"印{i}"}} for i in range(20)]
    assert (await c.post("/control/apply", json={"changes": changes})).status == 200
    return c


async def set_faults(client: Client, **faults: Any) -> None:
    resp = await client.post("/control/faults", json=faults)
    assert resp.status == 200, await resp.text()


async def test_down_and_slow_apply_to_every_endpoint_but_control(client: Client) -> None:
    await set_faults(client, down=True, slow_ms=100)
    calls = [
        client.get("/feed"),
        client.post("/versions", json=VERSIONS),
        client.get(f"/records/resident/{DEMO_ATENA_NO}"),
        client.get("/snapshot"),
        client.get("/health"),
    ]
    for call in calls:
        started = time.monotonic()
        resp = await call
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "down"
        assert time.monotonic() - started >= 0.1
    started = time.monotonic()
    assert (await client.get("/control/generate")).status == 200
    assert (await client.post("/control/apply", json={"changes": []})).status == 200
    assert time.monotonic() - started < 0.1
    await set_faults(client, down=False, slow_ms=0)
    assert (await client.get("/feed")).status == 200


async def test_flapping_alternates_up_and_down(client: Client) -> None:
    await set_faults(client, flap_period_s=0.15)
    seen = []
    for _ in range(30):
        seen.append((await client.post("/versions", json=VERSIONS)).status)
        assert (await client.get("/control/faults")).status == 200
        await asyncio.sleep(0.02)
    assert seen[0] == 200 and {200, 503} == set(seen)
    changes = sum(1 for a, b in itertools.pairwise(seen) if a != b)
    assert changes >= 2
    await set_faults(client, flap_period_s=None)
    assert all([(await client.get("/feed")).status == 200 for _ in range(5)])


def test_flapping_starts_up_then_goes_down() -> None:
    faults = Faults(flap_period_s=10)
    start = faults._flap_since
    assert not faults.is_down(start + 1) and faults.is_down(start + 11) and not faults.is_down(start + 21)


async def test_garbage_syntax(client: Client) -> None:
    await set_faults(client, garbage=True)
    assert (await (await client.get("/control/faults")).json())["garbage"] == "syntax"
    for resp in (await client.get("/feed"), await client.post("/versions", json=VERSIONS)):
        assert resp.status == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(await resp.read())
    data, complete = await read_body(await client.get("/snapshot"))
    assert complete
    lines = data.splitlines()
    assert orjson.loads(lines[0])["t"] == "header"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(lines[1])


async def test_garbage_shape(client: Client) -> None:
    await set_faults(client, garbage="shape")
    feed = orjson.loads(await (await client.get("/feed")).read())
    assert not isinstance(feed["changes"], list) and not isinstance(feed["last_seq"], int)
    versions = orjson.loads(await (await client.post("/versions", json=VERSIONS)).read())
    assert not isinstance(versions["versions"], dict)
    data, _ = await read_body(await client.get("/snapshot"))
    assert not isinstance(orjson.loads(data.splitlines()[1]), dict)


async def test_garbage_records(client: Client) -> None:
    await set_faults(client, garbage="record")
    for after in (0, 20):  # a page with changes, an empty page
        feed = orjson.loads(await (await client.get("/feed", params={"after": after})).read())
        assert isinstance(feed["changes"], list) and feed["changes"]
        bad = [c for c in feed["changes"] if _invalid(c["record"])]
        assert len(bad) == 1
    versions = orjson.loads(await (await client.post("/versions", json=VERSIONS)).read())
    assert all(isinstance(v, str) for v in versions["versions"].values())
    data, complete = await read_body(await client.get("/snapshot"))
    lines = [orjson.loads(line) for line in data.splitlines()]
    records = lines[1:-1]
    assert complete and sum(lines[-1]["counts"].values()) == len(records)  # the counts look right...
    assert sum(1 for r in records if _invalid(r)) == 1  # ...but one record is not


def _invalid(record: dict[str, Any]) -> bool:
    try:
        check_record(record)
    except LinkageError:
        return True
    return False


async def test_feed_abort_after_drops_the_connection_mid_body(client: Client) -> None:
    await set_faults(client, feed_abort_after=5)
    data, complete = await read_body(await client.get("/feed"))
    assert not complete
    assert data.count(b'"seq":') == 5 and data.endswith(b"},")
    data, complete = await read_body(await client.get("/feed", params={"limit": 5}))
    assert complete and len(orjson.loads(data)["changes"]) == 5  # no more than n: whole
    url = urlsplit(str(client.make_url("/feed")))

    def fetch() -> bytes:  # as a follower using the standard library would
        conn = http.client.HTTPConnection(url.hostname or "", url.port, timeout=5)
        try:
            conn.request("GET", "/feed")
            return conn.getresponse().read()
        finally:
            conn.close()

    with pytest.raises(http.client.IncompleteRead):
        await asyncio.to_thread(fetch)
    await set_faults(client, feed_abort_after=None)
    data, complete = await read_body(await client.get("/feed"))
    assert complete and len(orjson.loads(data)["changes"]) == 20


@pytest.mark.parametrize(
    "faults",
    [
        {"flap_period_s": 0},
        {"flap_period_s": "1"},
        {"flap_period_s": True},
        {"garbage": "bits"},
        {"garbage": 1},
        {"feed_abort_after": -1},
        {"feed_abort_after": 2.5},
    ],
)
async def test_bad_fault_settings(client: Client, faults: dict[str, Any]) -> None:
    resp = await client.post("/control/faults", json=faults)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_fault"
    assert await (await client.get("/control/faults")).json() == Faults().as_dict()
