"""``python -m registry_sim serve`` as a real process: ready line, /health and /snapshot over HTTP, SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from registry_sim.store import StoreReader

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


@pytest.fixture
def served(seeded_db: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry_sim", "serve", "--db", str(seeded_db), "--port", "0"],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.fullmatch(r"registry_sim listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert found, (line, proc.stderr.read() if proc.poll() is not None and proc.stderr else "")
        yield found.group(1), proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=10)
        for pipe in (proc.stdout, proc.stderr):
            if pipe:
                pipe.close()


def test_served_over_http_and_stops_on_sigterm(
    served: tuple[str, subprocess.Popen[str]], seeded_db: Path
) -> None:
    url, proc = served
    epoch, seq, counts = StoreReader(seeded_db).state()
    with urllib.request.urlopen(f"{url}/health", timeout=10) as resp:
        assert orjson.loads(resp.read()) == {"status": "ok", "epoch": epoch, "seq": seq, "counts": counts}
    with urllib.request.urlopen(f"{url}/snapshot", timeout=30) as resp:
        assert resp.headers["Content-Type"].startswith("application/x-ndjson")
        lines = resp.read().splitlines()
    assert orjson.loads(lines[0])["t"] == "header"
    assert orjson.loads(lines[-1]) == {"t": "end", "counts": counts}
    assert len(lines) == sum(counts.values()) + 2
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert "GET /health 200" in log and "GET /snapshot 200" in log and "Traceback" not in log
