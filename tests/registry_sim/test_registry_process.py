"""``python -m registry_sim serve`` as a real process: ready line, /health and /snapshot over HTTP, SIGTERM."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from konbini_demo.processes import Service
from registry_sim.store import StoreReader
from tests.registry_sim.processes import serving, urlopen

pytestmark = pytest.mark.e2e


@pytest.fixture
def served(seeded_db: Path) -> Iterator[tuple[str, Service]]:
    with serving(seeded_db) as served:
        yield served


def test_served_over_http_and_stops_on_sigterm(served: tuple[str, Service], seeded_db: Path) -> None:
    url, sim = served
    proc = sim.proc
    epoch, seq, counts = StoreReader(seeded_db).state()
    with urlopen(f"{url}/health", timeout=10) as resp:
        assert orjson.loads(resp.read()) == {"status": "ok", "epoch": epoch, "seq": seq, "counts": counts}
    with urlopen(f"{url}/snapshot", timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("application/x-ndjson")
        lines = resp.read().splitlines()
    assert orjson.loads(lines[0])["t"] == "header"
    assert orjson.loads(lines[-1]) == {"t": "end", "counts": counts}
    assert len(lines) == sum(counts.values()) + 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    log = sim.log_path.read_text()
    assert "GET /health 200" in log and "GET /snapshot 200" in log and "Traceback" not in log
