"""Do a kiosk's reads wait while a feed page is applied? The same reads and the same 10,000-change page,
with reads sharing the writer's connection (``--readers 0``: the design before read connections) and with
read-only connections beside it.

    .venv/bin/python bench/bench_reads.py [--residents 100000] [--changes 10000] [--rounds 3]

Per setting: the page's apply time, and the latency of kiosk-like reads (a resident and their household
in one read transaction, back to back from 4 tasks) while the page is applied: count, median, p99, max.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from issuance_server.replica.generations import unfenced
from issuance_server.replica.store import Replica
from issuance_server.storage.database import Database
from issuance_server.storage.migrate import prepare_database
from konbini_demo.people import resident
from recovery.feed_apply import apply_batch
from recovery.feed_page import Change
from wire.linkage import RESIDENT_FIELDS

READ_TASKS = 4


def atena(i: int) -> str:
    return f"{i + 1:010d}"


def build_replica(replica: Replica, residents: int) -> str:
    name = replica.new_generation("bench")
    writer = replica.writer(name)
    fields = list(RESIDENT_FIELDS)
    rows = []
    for i in range(residents):
        person = resident(atena(i), household_no=f"{i // 3 + 1:010d}", version=1)
        rows.append(tuple(person[f] for f in fields))
    writer.insert("resident", rows)
    writer.finish({"seq": "0"})
    return name


def page(residents: int, changes: int, first_seq: int, rng: random.Random) -> list[Change]:
    out = []
    for n in range(changes):
        i = rng.randrange(residents)
        record = resident(atena(i), household_no=f"{i // 3 + 1:010d}", version=first_seq + n + 1)
        values = [record[f] for f in RESIDENT_FIELDS]
        out.append(Change(first_seq + n + 1, "upsert", "resident", atena(i), first_seq + n + 1, "", values))
    return out


async def kiosk_read(db: Database, i: int) -> None:
    async with db.transaction(write=False) as tx:
        row = await tx.fetchone("SELECT household_no FROM replica.resident WHERE atena_no = ?", (atena(i),))
        assert row is not None
        await tx.fetchall("SELECT * FROM replica.resident WHERE household_no = ?", (row[0],))


async def measure(readers: int, residents: int, changes: int, rounds: int) -> tuple[float, list[float]]:
    with tempfile.TemporaryDirectory(prefix="bench-reads-") as tmp:
        folder = Path(tmp)
        prepare_database(folder / "server.sqlite3")
        db = await Database.open(folder / "server.sqlite3", readers=readers)
        replica = Replica(db, folder)
        await replica.switch_to(build_replica(replica, residents), 0, "t", "t", unfenced)
        rng = random.Random(1)
        applying = asyncio.Event()
        latencies: list[float] = []
        apply_s: list[float] = []

        async def reads() -> None:
            while True:
                t0 = time.perf_counter()
                await kiosk_read(db, rng.randrange(residents))
                if applying.is_set():
                    latencies.append(time.perf_counter() - t0)
                await asyncio.sleep(0)

        tasks = [asyncio.create_task(reads()) for _ in range(READ_TASKS)]
        seq = 0
        for _ in range(rounds):
            changes_page = page(residents, changes, seq, rng)
            await asyncio.sleep(0.2)
            applying.set()
            t0 = time.perf_counter()
            seq = await apply_batch(db, changes_page, seq, unfenced)
            apply_s.append(time.perf_counter() - t0)
            await asyncio.sleep(0.05)  # reads begun during the page end now
            applying.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await db.close()
        return statistics.median(apply_s), latencies


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(f"kiosk reads while a {args.changes:,}-change feed page is applied ({args.residents:,} residents)")
    print(f"{'reads on':<34}{'apply (median)':>15}{'reads':>8}{'median':>10}{'p99':>10}{'max':>10}")
    for readers, label in ((0, "the writer's connection (before)"), (2, "2 read-only connections")):
        apply_s, lat = asyncio.run(measure(readers, args.residents, args.changes, args.rounds))
        lat_ms = sorted(x * 1000 for x in lat) or [0.0]
        p99 = lat_ms[min(len(lat_ms) - 1, int(len(lat_ms) * 0.99))]
        print(
            f"{label:<34}{apply_s * 1000:>12.0f} ms{len(lat):>8}{statistics.median(lat_ms):>7.1f} ms"
            f"{p99:>7.1f} ms{lat_ms[-1]:>7.1f} ms"
        )


if __name__ == "__main__":
    main()
