"""The issuance server's memory with a full-size replica: idle after a full sync, and the peak under many
concurrent kiosk sessions (registry_sim and the server as real processes, software cards).

    flock /tmp/konbini-vpcd.lock .venv/bin/python bench/bench_memory.py [--residents 600000]
        [--concurrency 100] [--sessions 2] [--smaps 12]

Prints the server's RSS (and PSS, USS, anonymous and file-backed parts, threads, from /proc) when started
without a replica, at the peak of the full sync, idle after it, and at the peak (sampled every 10 ms and
the kernel's high-water mark, reset before the load) while ``--concurrency`` kiosks each run ``--sessions``
complete sessions at once; then idle again. ``--smaps N`` lists the N largest mappings after the load.
The registry's database is kept in ``var/bench/registry-<residents>.sqlite3`` between runs (bench_sync's).

Measured on this 2-core machine (1 Dec 2026, load ~1.9-2.7 from other work, 600,000 residents, 100 kiosks):

| RSS | before | after |
|---|---|---|
| started, no replica | 277 MB | 127 MB |
| peak of the full sync | 578 MB | 425 MB |
| idle after the sync | 547 MB | 190-194 MB |
| peak under 100 concurrent kiosks (goal <= 300 MB) | 622 MB | 286-290 MB |

Where it went: the fonts (reportlab kept the files whole, fontTools a second copy of every glyph for
outlines: ~140 MB; now mapped files), the writer's 256 MB replica page cache (now 16 MB) and the sync's
200 MB build cache that glibc kept (now given back). What is left after a sync (~60 MB over a 1,000-resident
city) is pymalloc arenas pinned by a few hundred long-lived objects made during the parse (tracemalloc: 31 kB
live); under load, 2 x 19 MiB of argon2id working memory and asyncio's 256 KiB read buffer per TLS connection.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import figures
from bench_session import eligible_adults
from bench_sync import reusable_store

from konbini_demo.postgres_cluster import private_cluster
from konbini_demo.processes import run
from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack

GOAL_MB = 300
MB = 1024 * 1024


def _kib_fields(path: Path, names: tuple[str, ...]) -> dict[str, int]:
    out = {}
    for line in path.read_text().splitlines():
        key, _, value = line.partition(":")
        if key in names:
            out[key] = int(value.split()[0]) * 1024 if value.strip().endswith("kB") else int(value)
    return out


def memory(pid: int) -> dict[str, int]:
    """Bytes: VmRSS, VmHWM (peak since start or the last reset), RssAnon, RssFile, Pss, USS; Threads."""
    status = _kib_fields(Path(f"/proc/{pid}/status"), ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"))
    rollup = _kib_fields(Path(f"/proc/{pid}/smaps_rollup"), ("Pss", "Private_Clean", "Private_Dirty"))
    return {
        **status,
        "Pss": rollup["Pss"],
        "USS": rollup["Private_Clean"] + rollup["Private_Dirty"],
    }


def reset_peak(pid: int) -> None:
    """Reset the kernel's VmHWM to the current RSS (Linux >= 4.0)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


class PeakSampler:
    """The highest VmRSS seen, polling every ``interval_s`` in a thread, between ``with`` enter and exit."""

    def __init__(self, pid: int, interval_s: float = 0.01) -> None:
        self.pid, self.interval_s, self.peak = pid, interval_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, memory(self.pid)["VmRSS"])
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, memory(self.pid)["VmRSS"])


def line(label: str, m: dict[str, int], peak: int | None = None) -> str:
    head = f"{label:<44}RSS {m['VmRSS'] / MB:6.0f} MB"
    if peak is not None:
        head = f"{label:<44}RSS {peak / MB:6.0f} MB peak (kernel high-water mark {m['VmHWM'] / MB:.0f} MB)"
    return (
        f"{head}  [PSS {m['Pss'] / MB:.0f}, USS {m['USS'] / MB:.0f}, anon {m['RssAnon'] / MB:.0f},"
        f" file {m['RssFile'] / MB:.0f} MB; {m['Threads']} threads]"
    )


def largest_mappings(pid: int, n: int) -> list[tuple[int, str]]:
    """(RSS bytes, name) of the ``n`` largest mappings, anonymous ones summed as ``[anon]``."""
    sizes: dict[str, int] = defaultdict(int)
    name = ""
    for row in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        parts = row.split()
        if parts and "-" in parts[0] and not parts[0].endswith(":"):
            name = parts[5] if len(parts) > 5 else "[anon]"
        elif parts and parts[0] == "Rss:":
            sizes[name] += int(parts[1]) * 1024
    return sorted(((v, k) for k, v in sizes.items()), reverse=True)[:n]


@dataclass
class Measured:
    lines: list[str]
    peak: int
    idle: dict[str, int]
    sessions: int
    failed: int
    wall: float
    mappings: list[tuple[int, str]]


def measure(args: argparse.Namespace, engine: str, database_url: str) -> Measured:
    """The server's memory through a full sync and a load, on ``engine``."""
    settings = {"KONBINI_KIOSK_MAX_OPEN_SESSIONS": str(2 * args.concurrency)}
    if database_url:
        settings["KONBINI_DATABASE_URL"] = database_url
    stack = Stack(args.root / engine, residents=args.residents, seed=1, server_settings=settings)
    stack.wipe()
    stack.registry_db = reusable_store(args.root.parent / f"registry-{args.residents}.sqlite3")
    lines = []
    try:
        (args.root / engine).mkdir(parents=True, exist_ok=True)
        stack.start_registry()
        run(["devices.card.cli", "init-ca", "--dir", str(stack.ca_dir)])
        if database_url:
            stack.ops("migrate")
        stack.start_server()
        pid = stack.services["server"].proc.pid
        time.sleep(1)
        lines.append(line("started, no replica", memory(pid)))
        reset_peak(pid)
        with PeakSampler(pid) as sync_peak:
            stack.ops("sync", "--full")
        lines.append(line(f"full sync of {args.residents:,} residents", memory(pid), sync_peak.peak))
        time.sleep(2)
        idle = memory(pid)
        lines.append(line("idle after the sync", idle))
        stack.enrol()
        kiosks = [SoftKiosk(stack, a) for a in eligible_adults(stack, args.concurrency)]
        for kiosk in kiosks:
            kiosk.register()
        assert "serial" in kiosks[0].session()  # the first session's one-time costs
        time.sleep(1)
        lines.append(line(f"idle, {len(kiosks)} cards registered", memory(pid)))
        reset_peak(pid)
        t0 = time.perf_counter()
        with PeakSampler(pid) as load_peak, ThreadPoolExecutor(args.concurrency) as pool:
            results = list(
                pool.map(lambda i: kiosks[i % len(kiosks)].session(), range(len(kiosks) * args.sessions))
            )
        wall = time.perf_counter() - t0
        loaded = memory(pid)
        lines.append(
            line(f"{args.concurrency} concurrent kiosks, {len(results)} sessions", loaded, load_peak.peak)
        )
        time.sleep(2)
        lines.append(line("idle after the load", memory(pid)))
        mappings = largest_mappings(pid, args.smaps) if args.smaps else []
    finally:
        stack.stop()
    failed = sum("serial" not in r for r in results)
    return Measured(lines, max(load_peak.peak, loaded["VmHWM"]), idle, len(results), failed, wall, mappings)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--residents", type=int, default=600_000)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=2, help="complete sessions per kiosk under load")
    parser.add_argument("--smaps", type=int, default=0, help="list this many largest mappings after the load")
    parser.add_argument("--root", type=Path, default=Path("var/bench/memory"))
    parser.add_argument("--engines", default="sqlite,postgresql", help="engines to measure, in this order")
    args = parser.parse_args()
    for engine in args.engines.split(","):
        if engine == "postgresql":
            with private_cluster(Path("/tmp/konbini-postgres"), durable=True) as cluster:
                cluster.create_database("konbini")
                got = measure(args, engine, cluster.url("konbini"))
        else:
            got = measure(args, engine, "")
        print(
            f"issuance server memory on {engine}, {args.residents:,}-resident replica"
            f" (load: {Path('/proc/loadavg').read_text().strip()})"
        )
        for text in got.lines:
            print(text)
        print(
            f"{got.sessions} sessions ({got.failed} failed) in {got.wall:.1f} s ({got.sessions / got.wall:.1f} sessions/s)"
        )
        verdict = "meets" if got.peak <= GOAL_MB * MB else "misses"
        print(
            f"peak RSS under {args.concurrency} concurrent kiosks: {got.peak / MB:.0f} MB (goal <= {GOAL_MB} MB:"
            f" {verdict}); idle after the sync {got.idle['VmRSS'] / MB:.0f} MB"
        )
        figures.record(
            f"server RSS peak, {args.concurrency} kiosks"
            + (", on PostgreSQL" if engine == "postgresql" else ""),
            round(got.peak / MB),
            "MB",
            GOAL_MB,
            detail=f"{args.residents:,}-resident replica; idle after the sync {got.idle['VmRSS'] / MB:.0f} MB",
        )
        for size, name in got.mappings:
            print(f"  {size / MB:7.1f} MB  {name}")


if __name__ == "__main__":
    main()
