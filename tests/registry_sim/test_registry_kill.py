"""``serve`` as a real process: SIGKILL while generating loses nothing committed; CLI flags and ``changes``."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

from tests.registry_sim.processes import ROOT, serving, urlopen

pytestmark = pytest.mark.e2e


def get(url: str) -> Any:
    with urlopen(url, timeout=10) as resp:
        return orjson.loads(resp.read())


def whole_feed(url: str) -> tuple[list[dict[str, Any]], int]:
    changes: list[dict[str, Any]] = []
    after = 0
    while True:
        page = get(f"{url}/feed?after={after}&limit=10000")
        if not page["changes"]:
            return changes, page["last_seq"]
        changes += page["changes"]
        after = page["changes"][-1]["seq"]


def test_sigkill_during_generation_keeps_data_and_log(fresh_db: Path) -> None:
    killed_at = []
    for round_ in range(3):
        with serving(fresh_db, "--generate-rate", "2000", "--generate-seed", str(round_)) as (url, sim):
            proc = sim.proc
            start = get(f"{url}/health")["seq"]
            deadline = time.monotonic() + 20
            while get(f"{url}/health")["seq"] < start + 300 + 200 * round_ and time.monotonic() < deadline:
                time.sleep(0.02)
            proc.send_signal(signal.SIGKILL)
            assert proc.wait(timeout=10) == -signal.SIGKILL
            killed_at.append(start)
    conn = sqlite3.connect(fresh_db)
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    conn.close()
    with serving(fresh_db) as (url, _):
        health = get(f"{url}/health")
        changes, last_seq = whole_feed(url)
        assert health["seq"] == last_seq > killed_at[-1] > killed_at[0] >= 0
        assert [c["seq"] for c in changes] == list(range(1, last_seq + 1))  # no hole, no repeat
        latest = {}
        for c in changes:
            latest[(c["t"], c["key"])] = c
        sample = list(latest.items())[:: max(1, len(latest) // 200)]
        keys = [[t, k] for (t, k), _ in sample]
        versions = orjson.loads(
            urlopen(
                urllib.request.Request(f"{url}/versions", data=orjson.dumps({"keys": keys}), method="POST"),
                timeout=10,
            ).read()
        )["versions"]
        for (t, k), c in sample:
            assert versions[f"{t}/{k}"] == (c["version"] if c["op"] == "upsert" else None)
        lines = urlopen(f"{url}/snapshot", timeout=30).read().splitlines()
        counts = orjson.loads(lines[-1])["counts"]
        assert counts == health["counts"] and len(lines) == sum(counts.values()) + 2


def test_changes_command_drives_a_running_sim(fresh_db: Path) -> None:
    with serving(fresh_db) as (url, _):
        cli = [
            sys.executable,
            "-m",
            "registry_sim",
            "changes",
            "--url",
            url,
            "--tls-dir",
            str(fresh_db.parent / "tls"),
        ]
        done = subprocess.run(
            [*cli, "--rate", "400", "--duration", "0.5", "--seed", "5", "--wait"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        state = json.loads(done.stdout)
        assert state["running"] is False and state["seed"] == 5 and state["changes"] > 0
        assert get(f"{url}/health")["seq"] == state["changes"]
        started = subprocess.run(
            [*cli, "--rate", "100"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert started.returncode == 0 and json.loads(started.stdout)["running"] is True
        stopped = subprocess.run([*cli, "--rate", "0"], cwd=ROOT, capture_output=True, text=True, check=False)
        assert stopped.returncode == 0 and json.loads(stopped.stdout)["running"] is False
        refused = subprocess.run(
            [*cli, "--rate", "-3"], cwd=ROOT, capture_output=True, text=True, check=False
        )
        assert refused.returncode == 1 and "rate" in refused.stderr
    unreachable = subprocess.run(
        [*cli, "--rate", "1"], cwd=ROOT, capture_output=True, text=True, check=False, timeout=30
    )
    assert unreachable.returncode == 1 and "cannot reach" in unreachable.stderr


def test_fault_flags_of_serve(fresh_db: Path) -> None:
    flags = ("--slow-ms", "5", "--flap-period-s", "30", "--garbage", "shape", "--feed-abort-after", "7")
    with serving(fresh_db, *flags, "--snapshot-abort-after", "3", "--keep-changes", "100") as (url, _):
        assert get(f"{url}/control/faults") == {
            "snapshot_abort_after": 3,
            "slow_ms": 5,
            "down": False,
            "flap_period_s": 30.0,
            "garbage": "shape",
            "feed_abort_after": 7,
        }
        page = get(f"{url}/feed")
        assert not isinstance(page["changes"], list)
    bad = subprocess.run(
        [sys.executable, "-m", "registry_sim", "serve", "--db", str(fresh_db), "--flap-period-s", "0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert bad.returncode == 2 and "flap_period_s" in bad.stderr
