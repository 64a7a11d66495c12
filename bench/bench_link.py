"""The registry link, measured across real processes (registry_sim and the server):

- failover: registry SIGKILLed -> server in recovery mode, and whether a kiosk session in flight survives;
- feed lag p50/p99 at 500 changes/s;
- catch-up after an hour of recovery at 50 changes/s (180,000 changes), its CPU a change across every
  process (the server, its page checker, registry_sim; PostgreSQL's processes with ``--engine postgresql``)
  against its floor: the same feed pages applied to a copy of the replica through the engine alone, in this
  process once it is quiet (issue 29: at most 3x);
- the version probe's cost per issuance (RegistryClient.versions on localhost).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import figures
from proc_cpu import by_role, cpu_seconds, thread_cpu, tree_cpu_seconds

from issuance_server.replica.generations import unfenced
from issuance_server.replica.store import Replica
from issuance_server.storage.database import Database
from issuance_server.storage.engine import Engine
from issuance_server.storage.migrate import prepare_database
from issuance_server.storage.postgres import PostgresDatabase
from konbini_demo.postgres_cluster import private_cluster
from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack
from recovery.feed_apply import apply_batch
from recovery.registry_client import RegistryClient
from registry_sim.generator import DEMO_ATENA_NO
from registry_sim.tls_files import link_context
from wire.linkage import RECORD_TYPES

PARTS = ("probe", "failover", "lag", "catch-up")
FLOOR_GOAL = 3.0  # issue 29: the catch-up's CPU a change at most 3x the bare apply of the same pages
FEED_BATCH = 10_000  # the server's feed_batch: changes a page, a transaction each
FLOOR_RUNS = 3  # the floor is the median of so many runs, each on its own copy of the replica


def wait(check: Callable[[], bool], timeout_s: float, every_s: float = 0.02) -> float:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if check():
            return time.monotonic() - t0
        time.sleep(every_s)
    raise TimeoutError


def mode(stack: Stack) -> str:
    return str(stack.ops_status()["mode"]["mode"])


def caught_up(stack: Stack) -> bool:
    return bool(stack.ops_status()["link"]["replica_seq"] == stack.registry().call("GET", "/health")["seq"])


def failover(stack: Stack, kiosk: SoftKiosk, trials: int) -> None:
    times, lost = [], 0
    for _ in range(trials):
        stack.kill("registry_sim")
        t0 = time.monotonic()
        result = kiosk.session()  # a session right after the death: must not be lost
        lost += "serial" not in result
        wait(lambda: mode(stack) == "recovery", 10)
        times.append(time.monotonic() - t0)
        stack.restart_registry()
        wait(lambda: mode(stack) == "normal", 60)
    print(
        f"failover (registry SIGKILL -> recovery mode): median {statistics.median(times):.2f} s,"
        f" max {max(times):.2f} s over {trials} trials; kiosk sessions lost: {lost} (target <= 3 s, none lost)"
    )


def feed_lag(stack: Stack, seconds: float) -> None:
    stack.registry().call("POST", "/control/generate", {"rate": 500, "duration_s": seconds, "seed": 9})
    time.sleep(seconds + 1)
    wait(lambda: caught_up(stack), 30)
    link = stack.ops_status()["link"]
    gen = stack.registry().call("GET", "/control/generate")
    print(
        f"feed lag at {gen['achieved_rate']:.0f} changes/s for {seconds:.0f} s: p50 {link['lag_s_p50']} s,"
        f" p99 {link['lag_s_p99']} s over {link['changes_applied']} changes (target p99 <= 2 s)"
    )


@dataclass(frozen=True)
class CatchUp:
    caught: int  # changes
    elapsed_s: float
    cpu_us: float  # a change, every process
    floor_us: float  # a change, the engine alone

    @property
    def ratio(self) -> float:
        return self.cpu_us / self.floor_us


def catch_up(new_stack: Callable[[str], Stack], changes: int, postmaster: int | None, runs: int) -> None:
    """``runs`` catch-ups, each on a new stack (the same start: the same changes from the same city) against
    its own floor; the figures are the median run's (this machine's neighbours sometimes slow every process
    at once for a while)."""
    done = []
    for run in range(runs):
        stack = new_stack(f"catch_up_{run}")
        try:
            done.append(catch_up_once(stack, changes, postmaster, run))
        finally:
            stack.stop()
        residents = stack.residents
    median = sorted(done, key=lambda c: c.ratio)[len(done) // 2]
    engine = "PostgreSQL" if postmaster else "SQLite"
    print(
        f"catch-up's CPU against its floor over {runs} runs: {', '.join(f'{c.ratio:.2f}x' for c in done)};"
        f" median {median.ratio:.2f}x on {engine} (goal <= {FLOOR_GOAL})"
    )
    figures.record(
        f"catch-up of {median.caught:,} changes",
        round(median.elapsed_s, 2),
        "s",
        round(3.0 * median.caught / 180_000, 2),
        detail=f"{median.elapsed_s / median.caught * 1e6:.1f} µs a change (goal 3 s for 180,000; median of {runs} runs)",
    )
    figures.record(
        f"catch-up CPU a change / bare apply, on {engine}",
        round(median.ratio, 1),
        "x",
        FLOOR_GOAL,
        detail=f"{median.cpu_us:.1f} µs against {median.floor_us:.1f} µs ({median.caught:,} changes,"
        f" {residents:,} residents; median of {runs} runs: {', '.join(f'{c.ratio:.2f}' for c in done)})",
    )


def catch_up_once(stack: Stack, changes: int, postmaster: int | None, run: int) -> CatchUp:
    stack.ops("mode", "recovery", "--reason", "bench: an hour of recovery")
    # As many changes as asked (the generator's rate falls as the registry's log grows), stopped when there
    # are enough; at 5,000 a second an upstream batch (a generator's tick) is at most 2,501 changes.
    target = stack.registry().call("GET", "/health")["seq"] + changes
    stack.registry().call("POST", "/control/generate", {"rate": 5000, "duration_s": None, "seed": 4})
    wait(lambda: stack.registry().call("GET", "/health")["seq"] >= target, changes / 500 + 30, every_s=0.5)
    stack.registry().call("POST", "/control/generate", {"rate": 0})
    wait(lambda: not stack.registry().call("GET", "/control/generate")["running"], 30)
    behind = stack.ops_status()["link"]
    registry_seq = stack.registry().call("GET", "/health")["seq"]
    # The replica as it stands before the catch-up, a copy for each run of the floor (the median is taken).
    copies = [snapshot_replica(stack, n) for n in range(FLOOR_RUNS)]
    # From the release to the server's own record of switching back to normal (caught up): neither a
    # command's start-up nor how often this process looks is counted, and looking seldom takes little of
    # the server's CPU from the catch-up.
    server = stack.services["server"].proc.pid
    sim = stack.services["registry_sim"].proc.pid
    sim0, children0 = cpu_seconds(sim), ended_or_alive_children(server)
    database0 = tree_cpu_seconds(postmaster) if postmaster else 0.0  # PostgreSQL works for the server too
    threads0 = thread_cpu(server)
    t0 = time.time()
    stack.ops_call("POST", "/ops/api/mode", {"mode": "normal", "reason": "bench: released"})
    wait(lambda: mode(stack) == "normal", 120, every_s=0.25)
    server_roles = by_role(threads0, thread_cpu(server))
    in_sim, in_children = cpu_seconds(sim) - sim0, ended_or_alive_children(server) - children0
    in_database = tree_cpu_seconds(postmaster) - database0 if postmaster else 0.0
    since = stack.ops_status()["mode"]["since"]
    elapsed = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() - t0
    assert caught_up(stack)
    caught = registry_seq - (behind["replica_seq"] or 0)
    print(
        f"catch-up {run + 1}: {caught:,} changes (an hour of recovery at 50/s):"
        f" {elapsed:.2f} s (goal <= 3 s for 180,000; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)"
    )
    # Where the CPU went: with every process's CPU a change, the machine's cores bound the figure from below.
    us = 1e6 / caught
    total = sum(server_roles.values()) + in_children + in_sim + in_database
    threads = ", ".join(
        f"{role} {seconds * us:.1f}" for role, seconds in sorted(server_roles.items(), key=lambda kv: -kv[1])
    )
    print(
        f"  CPU a change: server {sum(server_roles.values()) * us:.1f} µs ({threads}), its child processes"
        f" (the page checker) {in_children * us:.1f} µs, registry_sim {in_sim * us:.1f} µs"
        + (f", PostgreSQL {in_database * us:.1f} µs" if postmaster else "")
        + f"; all {total * us:.1f} µs: at best {total * us / (os.cpu_count() or 1):.1f} µs a change on"
        f" {os.cpu_count()} cores"
    )
    floors = [
        asyncio.run(bare_apply(stack, copy, behind["replica_seq"] or 0, registry_seq, postmaster))
        for copy in copies
    ]
    floor_us = statistics.median(floors)
    engine = "PostgreSQL" if postmaster else "SQLite"
    print(
        f"  floor: the same pages applied through the engine alone in this quiet process: {floor_us:.1f} µs of CPU"
        f" a change, the median of {', '.join(f'{f:.1f}' for f in floors)} ({engine}"
        f"{', its processes included' if postmaster else ''}); the catch-up's CPU is {total * us / floor_us:.2f}x it"
        f" (goal <= {FLOOR_GOAL})"
    )
    return CatchUp(caught, elapsed, total * us, floor_us)


def ended_or_alive_children(pid: int) -> float:
    """CPU seconds of ``pid``'s child processes, those it reaped included (the page checker ends with the
    catch-up, maybe before the bench looks)."""
    return tree_cpu_seconds(pid) - cpu_seconds(pid)


def snapshot_replica(stack: Stack, n: int) -> str:
    """Copy ``n`` of the replica as it stands (the link is held in recovery: nothing writes it): a file for
    SQLite, a schema for PostgreSQL."""
    status = stack.ops_status()
    generation = status["replica"]["replica_file"]
    if stack.database_url:
        import psycopg
        from psycopg import sql

        with psycopg.connect(stack.database_url, autocommit=True) as conn:
            schema = f"bench_floor_{n}"
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
            for table in (*RECORD_TYPES, "meta"):
                source = sql.Identifier(generation, table)
                target = sql.Identifier(schema, table)
                conn.execute(sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING ALL)").format(target, source))
                conn.execute(sql.SQL("INSERT INTO {} SELECT * FROM {}").format(target, source))
        return schema
    copy = stack.root / "floor" / "replica" / f"replica-floor-{n}.sqlite3"
    copy.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(stack.server_dir / "replica" / generation) as src, sqlite3.connect(copy) as dst:
        src.backup(dst)
    return copy.name


async def bare_apply(stack: Stack, copy: str, after: int, last: int, postmaster: int | None) -> float:
    """CPU µs a change of applying the feed's pages ``after``..``last`` (fetched first, not counted) to the
    copy through the engine alone (``recovery.feed_apply.apply_batch``, the link's own call), one page a
    transaction as the link applies them."""
    client = RegistryClient(stack.registry_url, 30.0, link_context(stack.registry_tls))
    pages = []
    seq = after
    try:
        while seq < last:
            page = await client.feed(seq, min(FEED_BATCH, last - seq), None)
            if not page.changes:
                break
            pages.append((seq, page.changes))
            seq = page.changes[-1].seq
    finally:
        await client.close()
    db: Engine
    if stack.database_url:
        pg = await PostgresDatabase.open(stack.database_url, 1)
        await pg.use_replica(copy)
        db = pg
    else:
        folder = stack.root / "floor"
        prepare_database(folder / "floor.sqlite3")
        sqlite = await Database.open(folder / "floor.sqlite3")
        await Replica(sqlite, folder).switch_to(copy, after, "t", "t", unfenced)
        db = sqlite
    try:
        gc.collect()
        cpu0, db0 = time.process_time(), tree_cpu_seconds(postmaster) if postmaster else 0.0
        for first, changes in pages:
            await apply_batch(db, changes, first, unfenced)
        db1 = tree_cpu_seconds(postmaster) if postmaster else 0.0
        cpu = time.process_time() - cpu0 + db1 - db0
    finally:
        await db.close()
    return cpu * 1e6 / max(1, seq - after)


async def probe_cost(stack: Stack, n: int) -> None:
    client = RegistryClient(stack.registry_url, 1.0, link_context(stack.registry_tls))
    keys = [("resident", DEMO_ATENA_NO), ("seal", "0000000001"), ("tax", f"{DEMO_ATENA_NO}|2026")]
    await client.versions(keys)
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        await client.versions(keys)
        times.append((time.perf_counter() - t0) * 1000)
    await client.close()
    times.sort()
    print(
        f"version probe (3 records) on localhost: median {statistics.median(times):.2f} ms,"
        f" p99 {times[int(0.99 * len(times))]:.2f} ms (target <= 5 ms added per issuance)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--engine", choices=("sqlite", "postgresql"), default="sqlite", help="the server's database engine"
    )
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--lag-seconds", type=float, default=20)
    parser.add_argument("--catch-up-changes", type=int, default=180_000)
    parser.add_argument(
        "--catch-up-runs",
        type=int,
        default=3,
        help="catch-ups measured, each on a stack of its own; the figures are the median run's",
    )
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only these parts (repeatable; default: all)"
    )
    args = parser.parse_args()
    parts = args.only or PARTS
    with contextlib.ExitStack() as cleanup:
        tmp = Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        cluster = None
        if args.engine == "postgresql":  # on disk with its own durability settings, as SQLite's file is
            cluster = cleanup.enter_context(private_cluster(Path("/tmp/konbini-postgres"), durable=True))

        def new_stack(name: str) -> Stack:
            settings = {"KONBINI_BREAKER_COOLDOWN_S": "0.5", "KONBINI_BREAKER_STABLE_S": "2"}
            if cluster is not None:
                cluster.create_database(name)
                settings["KONBINI_DATABASE_URL"] = cluster.url(name)
            stack = Stack(tmp / name, residents=args.residents, server_settings=settings)
            stack.start()
            return stack

        if {"probe", "failover", "lag"} & set(parts):
            stack = new_stack("konbini")
            try:
                kiosk = SoftKiosk(stack, DEMO_ATENA_NO)
                kiosk.register()
                if "probe" in parts:
                    asyncio.run(probe_cost(stack, 300))
                if "failover" in parts:
                    failover(stack, kiosk, args.trials)
                if "lag" in parts:
                    feed_lag(stack, args.lag_seconds)
            finally:
                stack.stop()
        if "catch-up" in parts:
            postmaster = cluster.postmaster_pid() if cluster is not None else None
            catch_up(new_stack, args.catch_up_changes, postmaster, args.catch_up_runs)


if __name__ == "__main__":
    main()
