"""PostgreSQL drivers side by side: psycopg 3 (what the engine uses: a pool of connections, each trip's
store function run on a thread of the engine's) against asyncpg (asyncio-native, its own pool), on the two
loads that matter, in one run against one durable cluster:

- **a feed page**: 10,000 resident upserts (the feed's statements, ``replica.store``) and the checkpoint in
  one transaction;
- **kiosk-step trips**: a read trip (a registration by card, the resident, the household) and a write trip
  (the write lock, a failure counted, an audit row appended one past the last), as a session's steps make.

    .venv/bin/python bench/bench_pg_drivers.py [--residents 20000] [--pages 5] [--trips 2000]

Prints wall time and CPU (this process, and PostgreSQL's backend processes) per change and per trip. The
engine keeps psycopg: its stores are synchronous functions of a transaction (``def f(tx)``), which asyncpg
could run only by making every store and step ``async`` (an ``await`` per statement).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import asyncpg
import figures  # noqa: F401  (imported for the path set-up the other benches share)
from proc_cpu import tree_cpu_seconds

from issuance_server.replica.generations import unfenced
from issuance_server.replica.store import _UPSERT_SQL
from issuance_server.storage import postgres
from issuance_server.storage.engine import Tx
from issuance_server.storage.migrate import migrate_postgres
from issuance_server.storage.postgres_replica import PgGenerations
from konbini_demo.people import resident
from konbini_demo.postgres_cluster import private_cluster
from recovery.feed_page import Change
from wire.linkage import RESIDENT_FIELDS

CHECKPOINT = "INSERT INTO replica.meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value"
READ = (
    "SELECT registration_id, atena_no, pin_hash, status FROM registrations WHERE card_fingerprint = ?",
    "SELECT * FROM replica.resident WHERE atena_no = ?",
    "SELECT * FROM replica.resident WHERE household_no = ? AND status = 'resident' ORDER BY birth_date",
)
WRITE = (
    "UPDATE registrations SET failures = 0, updated_at = ? WHERE card_fingerprint = ?",
    "INSERT INTO audit_log (seq, at, actor_kind, actor_id, terminal, action, subject, subject_mac, result,"
    " details, prev_hash, hash, chain) VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM audit_log), ?, 'kiosk',"
    " 'k', 't', 'bench', NULL, '', 'ok', '{}', '', '', 2)",
)


def atena(i: int) -> str:
    return f"{i + 1:010d}"


def dollars(sql: str, schema: str) -> str:
    """Portable store SQL -> asyncpg's ($1, $2, ...), the replica named as the engine names it."""
    text = postgres.translate(sql, schema).replace("%%", "%")
    count = iter(range(1, 1000))
    return re.sub(r"%s", lambda _: f"${next(count)}", text)


def page(residents: int, changes: int, first: int, rng: random.Random) -> list[Change]:
    out = []
    for n in range(changes):
        i = rng.randrange(residents)
        record = resident(atena(i), household_no=f"{i // 3 + 1:010d}", version=first + n + 1)
        out.append(
            Change(
                first + n + 1,
                "upsert",
                "resident",
                atena(i),
                first + n + 1,
                "",
                [record[f] for f in RESIDENT_FIELDS],
            )
        )
    return out


class Cpu:
    """CPU seconds of this process and of the cluster's backends between two readings."""

    def __init__(self, postmaster: int) -> None:
        self.postmaster = postmaster

    def read(self) -> tuple[float, float]:
        return time.process_time(), tree_cpu_seconds(self.postmaster)


async def timed(cpu: Cpu, fn: Callable[[], Awaitable[None]]) -> tuple[float, float, float]:
    """(wall, this process's CPU, the backends' CPU) seconds of ``fn``."""
    p0, b0 = cpu.read()
    t0 = time.perf_counter()
    await fn()
    wall = time.perf_counter() - t0
    p1, b1 = cpu.read()
    return wall, p1 - p0, b1 - b0


async def main_async(args: argparse.Namespace) -> None:
    with private_cluster(Path("/tmp/konbini-postgres"), durable=True) as cluster:
        cluster.create_database("konbini")
        url = cluster.url("konbini")
        with postgres.connect(url) as conn:
            migrate_postgres(conn)
            for i in range(args.trips):
                conn.execute(
                    "INSERT INTO registrations (atena_no, card_fingerprint, card_serial, card_not_after, pin_hash,"
                    " status, registered_by, registered_at, updated_at) VALUES (%s, %s, 's', 't', 'h', 'active',"
                    " 'b', 't', 't')",
                    (atena(i), f"fp{i}"),
                )
        db = await postgres.PostgresDatabase.open(url, 2)
        generations = PgGenerations(db)
        name = generations.new_generation("bench")
        writer = generations.writer(name)
        rows = []
        for i in range(args.residents):
            record = resident(atena(i), household_no=f"{i // 3 + 1:010d}", version=1)
            rows.append(tuple(record[f] for f in RESIDENT_FIELDS))
        writer.insert("resident", rows)
        await asyncio.to_thread(writer.finish, {"seq": "0"})
        await generations.switch_to(name, 0, "t", "t", unfenced)
        pool = await asyncpg.create_pool(
            host=str(cluster.socket_dir),
            port=cluster.port,
            user="postgres",
            database="konbini",
            min_size=3,
            max_size=3,
        )
        assert pool is not None
        cpu = Cpu(cluster.postmaster_pid() or 0)
        rng = random.Random(1)
        seq = 0
        results: dict[str, list[tuple[float, float, float]]] = {"psycopg": [], "asyncpg": []}
        # The same statements on both: the feed's upsert of a resident, then the checkpoint.
        upsert = dollars(_UPSERT_SQL["resident"], name)
        checkpoint = dollars(CHECKPOINT, name)

        for _ in range(args.pages):  # alternating: drift on the machine touches both alike
            changes = page(args.residents, args.page_size, seq, rng)

            def psycopg_page(tx: Tx, changes: list[Change] = changes) -> None:
                tx.executemany(_UPSERT_SQL["resident"], [c.values for c in changes if c.values is not None])
                tx.executemany(CHECKPOINT, [("seq", str(changes[-1].seq)), ("applied_at", "t")])

            async def run_psycopg(fn: Callable[[Tx], None] = psycopg_page) -> None:
                await db.write(fn)

            results["psycopg"].append(await timed(cpu, run_psycopg))
            seq += len(changes)
            changes = page(args.residents, args.page_size, seq, rng)

            async def run_asyncpg(changes: list[Change] = changes) -> None:
                async with pool.acquire() as conn, conn.transaction():
                    await conn.execute(f"SELECT pg_advisory_xact_lock({postgres.WRITE_LOCK})")
                    await conn.executemany(upsert, [c.values for c in changes])
                    await conn.executemany(checkpoint, [("seq", str(changes[-1].seq)), ("applied_at", "t")])

            results["asyncpg"].append(await timed(cpu, run_asyncpg))
            seq += len(changes)
        n = args.page_size
        for driver, runs in results.items():
            wall = sorted(r[0] for r in runs)[len(runs) // 2]
            own = sorted(r[1] for r in runs)[len(runs) // 2]
            backend = sorted(r[2] for r in runs)[len(runs) // 2]
            print(
                f"feed page of {n:,} upserts, {driver:<8}: {wall * 1e6 / n:5.1f} µs a change wall, CPU {own * 1e6 / n:5.1f}"
                f" µs here + {backend * 1e6 / n:5.1f} µs in PostgreSQL (medians of {len(runs)} pages)"
            )

        reads = [dollars(s, name) for s in READ]
        writes = [dollars(s, name) for s in WRITE]

        def read_trip(tx: Tx, i: int) -> None:
            tx.one(READ[0], (f"fp{i}",))
            tx.one(READ[1], (atena(i),))
            tx.all(READ[2], (f"{i // 3 + 1:010d}",))

        def write_trip(tx: Tx, i: int) -> None:
            tx.execute(WRITE[0], ("t", f"fp{i}"))
            tx.execute(WRITE[1], ("t",))

        async def psycopg_trips() -> None:
            async def one(i: int) -> None:
                await db.read(lambda tx: read_trip(tx, i))
                await db.write(lambda tx: write_trip(tx, i))

            for start in range(0, args.trips, args.concurrency):
                await asyncio.gather(
                    *(one(i) for i in range(start, min(start + args.concurrency, args.trips)))
                )

        async def asyncpg_trips() -> None:
            write_lock = asyncio.Lock()  # as the engine: one write trip of a node at a time

            async def one(i: int) -> None:
                async with (
                    pool.acquire() as conn,
                    conn.transaction(isolation="repeatable_read", readonly=True),
                ):
                    await conn.fetchrow(reads[0], f"fp{i}")
                    await conn.fetchrow(reads[1], atena(i))
                    await conn.fetch(reads[2], f"{i // 3 + 1:010d}")
                async with write_lock, pool.acquire() as conn, conn.transaction():
                    await conn.execute(f"SELECT pg_advisory_xact_lock({postgres.WRITE_LOCK})")
                    await conn.execute(writes[0], "t", f"fp{i}")
                    await conn.execute(writes[1], "t")

            for start in range(0, args.trips, args.concurrency):
                await asyncio.gather(
                    *(one(i) for i in range(start, min(start + args.concurrency, args.trips)))
                )

        trips = {"psycopg": [], "asyncpg": []}  # type: dict[str, list[tuple[float, float, float]]]
        for _ in range(3):
            trips["psycopg"].append(await timed(cpu, psycopg_trips))
            trips["asyncpg"].append(await timed(cpu, asyncpg_trips))
        for driver, runs in trips.items():
            wall, own, backend = (sorted(r[k] for r in runs)[1] for k in range(3))
            per = 2 * args.trips
            print(
                f"kiosk-step trips ({per:,}: a read of 3 statements, a write of 2, {args.concurrency} at a time),"
                f" {driver:<8}: {wall * 1e6 / per:6.1f} µs a trip wall, CPU {own * 1e6 / per:6.1f} µs here +"
                f" {backend * 1e6 / per:6.1f} µs in PostgreSQL (medians of 3 rounds)"
            )
        await pool.close()
        await db.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=10_000)
    parser.add_argument("--trips", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
