"""Full sync of a synthetic city end to end (registry_sim and the server as processes), and the import
stage against plain ``sqlite3`` ``executemany`` of the same rows on the same machine.

.venv/bin/python bench/bench_sync.py [--residents 600000] [--syncs 3] [--engines sqlite,postgresql]

The goal (issue 15) is for 600,000 residents: at most 15 s end to end on a 2-core machine. The figure is the
median of ``--syncs`` full syncs one after the other (each replaces the replica the one before built): on
a shared 2-core machine one sync's time varies by 10 % or more from one run to the next."""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

import figures

from issuance_server.replica.store import insert_sql, table_ddl
from konbini_demo.postgres_cluster import private_cluster
from konbini_demo.processes import run
from konbini_demo.stack import Stack
from registry_sim.store import holds_rows
from wire.linkage import RECORD_TYPES

GOAL_S = 15.0
PG_GOAL_RATIO = 1.3  # issue 29: a full sync into PostgreSQL at most 1.3x SQLite's of the same snapshot


def reusable_store(path: Path) -> Path:
    """The registry store a bench seeded before, kept unless it predates the rows encoding (then it is
    seeded again: it would serve the snapshot several times slower than a current registry)."""
    if path.exists() and not holds_rows(path):
        print(f"{path} predates the rows encoding: seeding it again", flush=True)
        path.unlink()
    return path


def plain_executemany(replica: Path, target: Path) -> tuple[float, int]:
    """Seconds to insert the replica's rows into a fresh file with plain executemany, one transaction."""
    src = sqlite3.connect(replica)
    rows = {t: src.execute(f"SELECT * FROM {t}").fetchall() for t in RECORD_TYPES}
    src.close()
    target.unlink(missing_ok=True)
    conn = sqlite3.connect(target, isolation_level=None)
    t0 = time.perf_counter()
    conn.execute("BEGIN")
    for t in RECORD_TYPES:
        conn.execute(table_ddl(t))
        conn.executemany(insert_sql(t), rows[t])
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - t0
    conn.close()
    return elapsed, sum(len(r) for r in rows.values())


def measure(
    args: argparse.Namespace, engine: str, database_url: str
) -> tuple[list[float], dict[str, Any], str]:
    """``--syncs`` full syncs on ``engine``: their wall times, the last one's progress and the replica's
    generation."""
    settings = {"KONBINI_DATABASE_URL": database_url} if database_url else None
    stack = Stack(args.root / engine, residents=args.residents, seed=1, server_settings=settings)
    stack.wipe()
    stack.registry_db = reusable_store(args.root.parent / f"registry-{args.residents}.sqlite3")
    try:
        t0 = time.perf_counter()
        stack.start_registry()
        print(
            f"registry ready in {time.perf_counter() - t0:.1f} s ({args.residents:,} residents)", flush=True
        )
        run(["devices.card.cli", "init-ca", "--dir", str(stack.ca_dir)])
        if database_url:
            stack.ops("migrate")
        stack.start_server()
        walls = []
        for _ in range(args.syncs):
            t0 = time.perf_counter()
            out = stack.ops("sync", "--full").stdout
            walls.append(time.perf_counter() - t0)
            print(f"{engine}: {out.strip()}; {walls[-1]:.1f} s end to end", flush=True)
        status = json.loads(stack.ops("status", "--json").stdout)
        generation = str(stack.server_dir / "replica" / status["replica"]["replica_file"])
        return walls, status["sync"], generation
    finally:
        stack.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--residents", type=int, default=600_000)
    parser.add_argument("--root", type=Path, default=Path("var/bench/sync"))
    parser.add_argument("--syncs", type=int, default=3, help="full syncs to take the median of")
    parser.add_argument(
        "--engines",
        default="sqlite,postgresql",
        help="engines to sync into, in this order (one run, side by side)",
    )
    args = parser.parse_args()
    engines = args.engines.split(",")
    walls: dict[str, list[float]] = {}
    progress: dict[str, dict[str, Any]] = {}
    for engine in engines:
        if engine == "postgresql":
            # On disk with PostgreSQL's own durability settings, as the SQLite file is.
            with private_cluster(Path("/tmp/konbini-postgres"), durable=True) as cluster:
                cluster.create_database("konbini")
                walls[engine], progress[engine], _ = measure(args, engine, cluster.url("konbini"))
        else:
            walls[engine], progress[engine], replica = measure(args, engine, "")
    for engine in engines:
        wall, done = statistics.median(walls[engine]), progress[engine]
        print(
            f"{engine}: full sync of {args.residents:,} residents ({done['records']:,} records,"
            f" {done['bytes_read'] / 1e6:.0f} MB): {wall:.1f} s end to end, the median of"
            f" {', '.join(f'{w:.1f}' for w in walls[engine])} s"
        )
        print(f"  stages of the last: {done['timings']}")
    if "sqlite" in walls:
        wall = statistics.median(walls["sqlite"])
        figures.record(
            f"full sync, {args.residents:,} residents",
            round(wall, 1),
            "s",
            round(GOAL_S * args.residents / 600_000, 1),
            detail=f"median of {len(walls['sqlite'])} syncs of {progress['sqlite']['records']:,} records,"
            f" {progress['sqlite']['bytes_read'] / 1e6:.0f} MB (goal 15 s for 600,000)",
        )
        plain_s, n = plain_executemany(Path(replica), args.root / "plain.sqlite3")
        timings = progress["sqlite"]["timings"]
        write_s = timings["write_s"] + timings["finish_s"]
        print(
            f"  import stage (parse + insert + indexes + commit) {write_s:.1f} s vs plain executemany of the"
            f" same {n:,} rows {plain_s:.1f} s: ratio {write_s / plain_s:.2f} (target <= 2)"
        )
    if "sqlite" in walls and "postgresql" in walls:
        ratio = statistics.median(walls["postgresql"]) / statistics.median(walls["sqlite"])
        print(f"PostgreSQL / SQLite full sync: {ratio:.2f}x (goal <= {PG_GOAL_RATIO})")
        figures.record(
            f"full sync on PostgreSQL / on SQLite, {args.residents:,} residents",
            round(ratio, 2),
            "x",
            PG_GOAL_RATIO,
            detail="medians of the same snapshot in one run; PostgreSQL on disk with its own durability settings",
        )
    print(f"  load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
