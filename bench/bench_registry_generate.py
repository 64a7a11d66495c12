"""Synthetic city at full scale: generation speed, seeding the store, serving the snapshot over HTTP.

.venv/bin/python bench/bench_registry_generate.py [--residents 600000] [--generate-only]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path

import aiohttp
from aiohttp import web

from registry_sim.generator import generate_city
from registry_sim.server import make_app
from registry_sim.store import build_store

SEED = 1
FISCAL_YEAR = 2026


def bench_generate(residents: int) -> None:
    counts: Counter[str] = Counter()
    t0 = time.perf_counter()
    for rec in generate_city(residents, SEED, FISCAL_YEAR):
        counts[rec["t"]] += 1
    elapsed = time.perf_counter() - t0
    total = sum(counts.values())
    print(
        f"generate {residents:,} residents: {elapsed:.1f} s = {residents / elapsed:,.0f} residents/s"
        f" ({total:,} records: {dict(counts)})"
    )


def bench_seed(residents: int, db: Path) -> None:
    t0 = time.perf_counter()
    build_store(db, generate_city(residents, SEED, FISCAL_YEAR), source="bench")
    elapsed = time.perf_counter() - t0
    print(
        f"seed store (generate + encode + SQLite): {elapsed:.1f} s = {residents / elapsed:,.0f} residents/s,"
        f" file {db.stat().st_size / 1e6:,.0f} MB"
    )


async def bench_snapshot(db: Path) -> None:
    runner = web.AppRunner(make_app(db), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    size = 0
    t0 = time.perf_counter()
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/snapshot") as resp:
        async for chunk in resp.content.iter_chunked(1 << 20):
            size += len(chunk)
    elapsed = time.perf_counter() - t0
    await runner.cleanup()
    print(
        f"serve /snapshot over HTTP: {size / 1e6:,.0f} MB in {elapsed:.1f} s = {size / 1e6 / elapsed:,.0f} MB/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=600_000)
    parser.add_argument("--generate-only", action="store_true")
    args = parser.parse_args()
    bench_generate(args.residents)
    if args.generate_only:
        return
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as tmp:
        db = Path(tmp) / "registry.sqlite3"
        bench_seed(args.residents, db)
        asyncio.run(bench_snapshot(db))


if __name__ == "__main__":
    main()
