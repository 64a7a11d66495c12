"""A day of load (issue 32): kiosk sessions against one server, for hours, watching what grows.

    .venv/bin/python bench/soak.py [--sessions 100000] [--workers 4] [--warmup-min 2] [--csv FILE]

A stack of real processes (registry_sim, the server on SQLite) and ``--workers`` software kiosks, each a
registered resident with its own card, running whole sessions one after another (open, authenticate, menu,
quote, issue, fetch the PDF, print report, end) until ``--sessions`` are done. Every PDF is checked as a
kiosk's print guard checks it (every sheet signed by the city, of the serial issued, for the card of the
session, sheets 1..n), then dropped: a sheet that is not the session's counts as a cross-delivery.

Every minute one line: sessions done, sessions/s, errors, cross-deliveries, the server's RSS, open file
descriptors and threads (from /proc), and p50/p99 per step over that minute (``--csv``: the same per
minute, for a plot). The last line::

    SOAK sessions=<n> errors=<e> cross=<c> rss_growth=<g>% fds_growth=<f>

growth measured from the end of the warm-up (``--warmup-min``) to the end. Not part of ``make test``: a
100,000-session run takes about two hours here; ``--sessions 2000`` a few minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import hashlib
import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from konbini_demo.soft_kiosk import SoftKiosk, eligible_adults
from konbini_demo.stack import Stack
from wire.cert_record import load_public_key
from wire.http_json import HttpError
from wire.kiosk_api import auth_message
from wire.kiosk_client import KioskClient
from wire.print_guard import GuardRefused, check_sheets

STEPS = ("open", "authenticate", "menu", "quote", "issue", "fetch", "report", "end")
SERVER_SETTINGS = {
    "KONBINI_KIOSK_SESSION_OPENS_PER_MINUTE": "100000",  # one kiosk identity runs every worker's sessions
    "KONBINI_KIOSK_MAX_OPEN_SESSIONS": "64",
}


@dataclass
class Minute:
    sessions: int = 0
    errors: int = 0
    cross: int = 0
    steps: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))


@dataclass
class Soak:
    done: int = 0
    errors: int = 0
    cross: int = 0
    minute: Minute = field(default_factory=Minute)
    error_codes: dict[str, int] = field(default_factory=lambda: defaultdict(int))


def proc_figures(pid: int) -> tuple[float, int, int]:
    """(RSS MB, open descriptors, threads) of process ``pid``."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    rss_mb = int(fields["VmRSS"].split()[0]) / 1024
    return rss_mb, len(os.listdir(f"/proc/{pid}/fd")), int(fields["Threads"])


async def one_session(api: KioskClient, kiosk: SoftKiosk, key: Any, soak: Soak) -> None:
    steps = soak.minute.steps

    async def timed(name: str, call: Any) -> Any:
        started = time.perf_counter()
        result = await call
        steps[name].append((time.perf_counter() - started) * 1000)
        return result

    s = await timed("open", api.open_session())
    sid = s["session_id"]
    signature = kiosk.key.sign(
        auth_message(api.kiosk_id, sid, s["nonce"]), padding.PKCS1v15(), hashes.SHA256()
    )
    await timed("authenticate", api.authenticate(sid, s["nonce"], kiosk.cert, signature, kiosk.pin))
    await timed("menu", api.menu(sid))
    quote = await timed("quote", api.quote(sid, "inkan"))
    issued = await timed(
        "issue", api.issue(sid, quote["quote_id"], f"soak-{soak.done}-{os.urandom(4).hex()}")
    )
    serial = issued["certificates"][0]["serial"]
    pdf = await timed("fetch", api.fetch_pdf(sid, serial))
    try:
        await asyncio.to_thread(check_sheets, pdf, serial, hashlib.sha256(kiosk.cert).digest(), key)
    except GuardRefused:
        soak.cross += 1
        soak.minute.cross += 1
    await timed("report", api.report_print(sid, serial, True))
    await timed("end", api.end_session(sid))


async def worker(kiosk: SoftKiosk, key: Any, soak: Soak, target: int, retry_s: float) -> None:
    async with KioskClient(kiosk.creds, retry_s=retry_s) as api:
        while soak.done + soak.errors < target:
            try:
                await one_session(api, kiosk, key, soak)
                soak.done += 1
                soak.minute.sessions += 1
            except HttpError as exc:
                soak.errors += 1
                soak.minute.errors += 1
                soak.error_codes[exc.code] += 1


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def watch(soak: Soak, pid: int, target: int, warmup_min: int, rows: list[dict[str, Any]]) -> None:
    """A line a minute (and one for the last part-minute once the sessions are done)."""
    started = time.monotonic()
    n = 0
    while True:
        finished = soak.done + soak.errors >= target
        if not finished and time.monotonic() < started + 60 * (n + 1):
            await asyncio.sleep(0.5)
            continue
        n += 1
        minute, soak.minute = soak.minute, Minute()
        seconds = min(60.0, time.monotonic() - started - 60 * (n - 1))
        rss, fds, threads = proc_figures(pid)
        row: dict[str, Any] = {"minute": n, "sessions": soak.done, "per_s": round(minute.sessions / seconds, 1),
                               "errors": soak.errors, "cross": soak.cross, "rss_mb": round(rss, 1), "fds": fds,
                               "threads": threads, "warm": n > warmup_min}  # fmt: skip
        for name in STEPS:
            row[f"{name}_p50"] = (
                round(statistics.median(minute.steps[name]), 1) if minute.steps[name] else None
            )
            row[f"{name}_p99"] = (
                round(percentile(minute.steps[name], 0.99), 1) if minute.steps[name] else None
            )
        rows.append(row)
        steps = " ".join(f"{s} {row[f'{s}_p50']}/{row[f'{s}_p99']}" for s in STEPS)
        print(
            f"min {n:4d}: {soak.done:7d} sessions ({row['per_s']}/s), {soak.errors} errors, {soak.cross} cross;"
            f" server RSS {rss:.1f} MB, {fds} fds, {threads} threads; ms p50/p99: {steps}",
            flush=True,
        )
        if finished:
            return


def growth(rows: list[dict[str, Any]], column: str) -> float:
    warm = [r for r in rows if r["warm"]] or rows
    first, last = warm[0][column], rows[-1][column]
    return round((last - first) / first * 100, 1) if first else 0.0


async def soak_run(args: argparse.Namespace) -> int:
    root = Path(tempfile.mkdtemp(prefix="soak-"))
    stack = Stack(root, residents=400, server_settings=SERVER_SETTINGS)
    stack.start()
    try:
        key = load_public_key(stack.public_key)
        kiosks = []
        for atena_no in eligible_adults(stack, args.workers):
            kiosk = SoftKiosk(stack, atena_no, name="soak")
            kiosk.register()
            kiosks.append(kiosk)
        pid = stack.services["server"].proc.pid
        soak, rows = Soak(), list[dict[str, Any]]()
        print(f"soak: {args.sessions} sessions, {len(kiosks)} kiosks, server pid {pid}", flush=True)
        await asyncio.gather(
            watch(soak, pid, args.sessions, args.warmup_min, rows),
            *(worker(k, key, soak, args.sessions, args.retry_s) for k in kiosks),
        )
        if args.csv:
            with args.csv.open("w", newline="") as fh:
                writer = csv.DictWriter(fh, fieldnames=sorted({k for r in rows for k in r}))
                writer.writeheader()
                writer.writerows(rows)
        if soak.error_codes:
            print(f"errors by code: {dict(soak.error_codes)}")
        print(
            f"SOAK sessions={soak.done} errors={soak.errors} cross={soak.cross}"
            f" rss_growth={growth(rows, 'rss_mb')}% fds_growth={growth(rows, 'fds')}",
            flush=True,
        )
        return 0 if not soak.errors and not soak.cross else 1
    finally:
        stack.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions in all (default 100,000)")
    parser.add_argument("--workers", type=int, default=4, help="software kiosks running at once")
    parser.add_argument("--warmup-min", type=int, default=2, help="minutes before growth is measured from")
    parser.add_argument("--retry-s", type=float, default=15.0, help="how long a lost answer is tried again")
    parser.add_argument("--csv", type=Path, help="the per-minute figures as CSV (for a plot)")
    return asyncio.run(soak_run(parser.parse_args()))


if __name__ == "__main__":
    raise SystemExit(main())
