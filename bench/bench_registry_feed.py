"""registry_sim's change side: sustained generator rate, /feed throughput, /versions latency.

.venv/bin/python bench/bench_registry_feed.py [--residents 100000] [--seconds 3] [--db PATH]

Seeds a synthetic city (unless --db names an existing store, which is then changed), runs
``konbini-registry serve`` as a separate process and measures over HTTP on localhost:

- generator: the achieved rate for several asked rates (the highest sustained one is the figure);
- feed: reading every change logged so far, page by page (limit 1000 and 10000; objects and the rows
  encoding), in changes/s;
- versions: latency of ``POST /versions`` with 10 keys (median, p99), idle and while 500 changes/s flow.
"""

from __future__ import annotations

import argparse
import http.client
import json
import random
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from konbini_demo.processes import Service, free_port
from registry_sim.generator import generate_city
from registry_sim.store import build_store

ROOT = Path(__file__).resolve().parent.parent
RATES = (500, 2000, 5000, 10000, 20000, 50000)


@contextmanager
def serving(db: Path, log_dir: Path) -> Iterator[tuple[str, int]]:
    """``python -m registry_sim serve`` on a free port, once it answers; its output in ``log_dir``."""
    port = free_port()
    sim = Service(
        "registry_sim",
        # a relative --db: in ROOT; plain HTTP on loopback: this measures the feed, not TLS
        ["registry_sim", "serve", "--db", str(ROOT / db), "--port", str(port), "--plain"],
        log_dir,
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        sim.wait_log("registry_sim listening on")
        yield "127.0.0.1", port
    finally:
        sim.stop(timeout_s=30)


class Client:
    """One keep-alive HTTP connection."""

    def __init__(self, host: str, port: int) -> None:
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload else {}
        self.conn.request(method, path, body=payload, headers=headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise RuntimeError(f"{path}: HTTP {resp.status} {data[:200]!r}")
        return json.loads(data)

    def raw(self, path: str) -> bytes:
        self.conn.request("GET", path)
        return self.conn.getresponse().read()


def bench_generator(c: Client, seconds: float) -> None:
    best = 0.0
    for rate in RATES:
        c.call("POST", "/control/generate", {"rate": rate, "duration_s": seconds, "seed": rate})
        time.sleep(seconds)
        state = c.call("GET", "/control/generate")
        while state["running"]:
            time.sleep(0.1)
            state = c.call("GET", "/control/generate")
        achieved = state["achieved_rate"]
        print(
            f"generator: asked {rate:>6,}/s -> {achieved:>8,.0f} changes/s over {seconds:.0f} s (errors {state['errors']})"
        )
        if achieved >= 0.95 * rate:
            best = rate
        else:
            break
    print(f"generator: sustained at least {best:,} changes/s")


def bench_feed(c: Client) -> None:
    last = c.call("GET", "/health")["seq"]
    for limit, encoding in ((1000, "objects"), (10000, "objects"), (10000, "rows")):
        after, count, size = 0, 0, 0
        t0 = time.perf_counter()
        while after < last:
            body = c.raw(
                f"/feed?after={after}&limit={limit}" + ("&encoding=rows" if encoding == "rows" else "")
            )
            page = json.loads(body)
            if not page["changes"]:
                break
            count += len(page["changes"])
            size += len(body)
            after = page["changes"][-1]["seq"]
        elapsed = time.perf_counter() - t0
        print(
            f"feed ({encoding}): {count:,} changes with limit {limit:>5}: {elapsed:.2f} s = {count / elapsed:,.0f} changes/s"
            f" ({size / elapsed / 1e6:,.0f} MB/s, parsed by the client)"
        )


def bench_versions(c: Client, residents: int, label: str, n: int = 3000) -> None:
    rng = random.Random(1)
    times = []
    for _ in range(n):
        keys = [["resident", f"{rng.randint(1, residents):010d}"] for _ in range(7)]
        keys += [
            ["seal", f"{rng.randint(1, residents // 2):08d}"],
            ["household", f"{rng.randint(1, 1000):010d}"],
        ]
        keys += [["tax", f"{rng.randint(1, residents):010d}|2026"]]
        t0 = time.perf_counter()
        c.call("POST", "/versions", {"keys": keys})
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(
        f"versions (10 keys, {label}): median {statistics.median(times):.2f} ms,"
        f" p99 {times[int(len(times) * 0.99)]:.2f} ms, max {times[-1]:.2f} ms over {n} requests"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=3.0, help="per generator rate")
    parser.add_argument("--db", type=Path, help="use (and change) this store instead of seeding one")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or Path(tmp) / "registry.sqlite3"
        if args.db is None:
            t0 = time.perf_counter()
            build_store(db, generate_city(args.residents, 1, 2026), source="bench")
            print(f"seeded {args.residents:,} residents in {time.perf_counter() - t0:.1f} s")
        with serving(db, Path(tmp)) as (host, port):
            c = Client(host, port)
            bench_versions(c, args.residents, "idle")
            bench_generator(c, args.seconds)
            bench_feed(c)
            c.call("POST", "/control/generate", {"rate": 500, "seed": 7})
            bench_versions(c, args.residents, "500 changes/s flowing")
            c.call("POST", "/control/generate", {"rate": 0})


if __name__ == "__main__":
    main()
