"""The registry sim's HTTP API in-process: health, the snapshot stream, fault injection, quiet logs."""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from registry_sim.faults import Faults
from registry_sim.generator import DEMO_ATENA_NO, DEMO_NAME, generate_city
from registry_sim.server import make_app
from registry_sim.store import StoreReader, build_store
from wire.linkage import FORMAT

AiohttpClient = Callable[[web.Application], Awaitable[TestClient[Any, Any]]]


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, seeded_db: Path) -> TestClient[Any, Any]:
    return await aiohttp_client(make_app(seeded_db))


async def read_lines(resp: aiohttp.ClientResponse) -> tuple[list[dict[str, Any]], bool]:
    """The JSON lines of a streamed body, and whether the body ended properly."""
    data = b""
    complete = True
    try:
        async for chunk in resp.content.iter_chunked(1 << 16):
            data += chunk
    except aiohttp.ClientPayloadError:
        complete = False
    return [orjson.loads(line) for line in data.splitlines() if line], complete


async def test_health(client: TestClient[Any, Any], seeded_db: Path) -> None:
    resp = await client.get("/health")
    assert resp.status == 200
    body = await resp.json()
    epoch, seq, counts = StoreReader(seeded_db).state()
    assert body == {"status": "ok", "epoch": epoch, "seq": seq, "counts": counts}
    assert counts["resident"] == 1200 and all(n > 0 for n in counts.values())


async def test_snapshot_streams_header_records_and_end(client: TestClient[Any, Any], seeded_db: Path) -> None:
    resp = await client.get("/snapshot")
    assert resp.status == 200 and resp.content_type == "application/x-ndjson"
    lines, complete = await read_lines(resp)
    assert complete
    header, end, records = lines[0], lines[-1], lines[1:-1]
    epoch, seq, counts = StoreReader(seeded_db).state()
    assert header["t"] == "header" and header["format"] == FORMAT and header["seq"] == seq
    assert header["epoch"] == epoch
    assert header["generated_at"].endswith("Z")
    assert end == {"t": "end", "counts": counts}
    order = ["household", "resident", "seal", "tax"]
    types = [r["t"] for r in records]
    assert types == sorted(types, key=order.index)
    assert {t: types.count(t) for t in order} == counts
    residents = [r for r in records if r["t"] == "resident"]
    assert residents[0]["atena_no"] == DEMO_ATENA_NO and residents[0]["name"] == DEMO_NAME


async def test_snapshot_abort_after_drops_the_connection_without_end(client: TestClient[Any, Any]) -> None:
    resp = await client.post("/control/faults", json={"snapshot_abort_after": 25})
    assert (await resp.json())["snapshot_abort_after"] == 25
    for _ in range(2):  # every following snapshot, not only the next one
        lines, complete = await read_lines(await client.get("/snapshot"))
        assert not complete
        assert lines[0]["t"] == "header" and len(lines) == 26
        assert all(r["t"] != "end" for r in lines)
    await client.post("/control/faults", json={"snapshot_abort_after": None})
    lines, complete = await read_lines(await client.get("/snapshot"))
    assert complete and lines[-1]["t"] == "end"


async def test_abort_after_more_records_than_exist_gives_a_whole_snapshot(
    aiohttp_client: AiohttpClient, seeded_db: Path
) -> None:
    client = await aiohttp_client(make_app(seeded_db, Faults(snapshot_abort_after=10**9)))
    lines, complete = await read_lines(await client.get("/snapshot"))
    assert complete and lines[-1]["t"] == "end"


async def test_down_answers_503_except_control(client: TestClient[Any, Any]) -> None:
    await client.post("/control/faults", json={"down": True})
    for path in ("/health", "/snapshot"):
        resp = await client.get(path)
        assert resp.status == 503 and (await resp.json())["error"]["code"] == "down"
    resp = await client.get("/control/faults")
    assert resp.status == 200 and await resp.json() == {
        "snapshot_abort_after": None,
        "slow_ms": 0,
        "down": True,
        "flap_period_s": None,
        "garbage": None,
        "feed_abort_after": None,
    }
    await client.post("/control/faults", json={"down": False})
    assert (await client.get("/health")).status == 200


async def test_slow_delays_answers(client: TestClient[Any, Any]) -> None:
    await client.post("/control/faults", json={"slow_ms": 150})
    started = time.monotonic()
    assert (await client.get("/health")).status == 200
    assert time.monotonic() - started >= 0.15
    await client.post("/control/faults", json={"slow_ms": 0})


@pytest.mark.parametrize(
    "body",
    [b"nope", b"[1]", b'{"down": "yes"}', b'{"slow_ms": -1}', b'{"snapshot_abort_after": 1.5}', b'{"x": 1}'],
)
async def test_bad_fault_settings_are_refused(client: TestClient[Any, Any], body: bytes) -> None:
    resp = await client.post("/control/faults", data=body)
    assert resp.status == 400
    assert await (await client.get("/control/faults")).json() == Faults().as_dict()


async def test_missing_database_answers_503(aiohttp_client: AiohttpClient, tmp_path: Path) -> None:
    client = await aiohttp_client(make_app(tmp_path / "none.sqlite3"))
    assert (await client.get("/health")).status == 503
    assert (await client.get("/snapshot")).status == 503


async def test_logs_carry_no_personal_data(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="registry_sim")
    await read_lines(await client.get("/snapshot"))
    await client.get("/health?atena_no=0000000001")
    await client.get("/records/resident/0000000001")
    text = caplog.text
    assert "GET /snapshot 200" in text and "GET /health 200" in text
    assert DEMO_NAME not in text and DEMO_ATENA_NO not in text


async def test_a_client_leaving_mid_snapshot_is_no_error(
    client: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    resp = await client.get("/snapshot")
    await resp.content.read(1000)
    resp.close()
    assert (await client.get("/health")).status == 200
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_rebuilt_store_is_served_at_the_next_request(
    aiohttp_client: AiohttpClient, seeded_db: Path, tmp_path: Path
) -> None:
    db = tmp_path / "r.sqlite3"
    shutil.copy(seeded_db, db)
    client = await aiohttp_client(make_app(db))
    before = await (await client.get("/health")).json()
    build_store(db, generate_city(10, 1, 2026), source="rebuild")
    after = await (await client.get("/health")).json()
    assert after["epoch"] != before["epoch"] and after["seq"] == 0 and after["counts"]["resident"] == 10
    lines, complete = await read_lines(await client.get("/snapshot"))
    assert complete and lines[-1]["counts"]["resident"] == 10
