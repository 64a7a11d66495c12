"""Server CPU per complete kiosk session (open, authenticate, menu, issue, fetch PDF, print report, end).

Runs registry_sim and the server as real processes, drives N sessions over HTTP with a software card
(the card's own cost is in bench_card.py), and reads the server's CPU time from /proc.
``--profile FILE`` also records the server with py-spy (``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def eligible_adults(stack: Stack, n: int) -> list[str]:
    """Residents a kiosk serves (adult, no flags), from the server's replica file."""
    replica = next((stack.server_dir / "replica").glob("replica-*.sqlite3"))
    conn = sqlite3.connect(f"file:{replica}?mode=ro", uri=True)
    try:
        rows = conn.execute(
            "SELECT atena_no FROM resident WHERE status = 'resident' AND in_transition = 0 AND support_measure = 0"
            " AND moveout_planned_date IS NULL AND birth_date < '1990-01-01' ORDER BY atena_no LIMIT ?",
            (n,),
        ).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy profile (raw folded stacks) of the server here"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), residents=1000)
        try:
            stack.start()
            # One card per concurrent worker: a card is in one reader at a time.
            kiosks = [SoftKiosk(stack, atena_no) for atena_no in eligible_adults(stack, args.concurrency)]
            for kiosk in kiosks:
                kiosk.register()
                assert "serial" in kiosk.session()  # warm up
            pid = stack.services["server"].proc.pid
            spy = None
            if args.profile:
                py_spy = str(Path(sys.executable).parent / "py-spy")
                spy = subprocess.Popen(
                    [py_spy, "record", "-p", str(pid), "-o", str(args.profile), "-f", "raw", "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                results = list(pool.map(lambda i: kiosks[i % len(kiosks)].session(), range(args.n)))
            cpu, wall = cpu_seconds(pid) - cpu0, time.perf_counter() - t0
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
        finally:
            stack.stop()
    failed = sum("serial" not in r for r in results)
    print(
        f"{args.n} kiosk sessions ({failed} failed), {args.concurrency} at a time: server CPU"
        f" {cpu / args.n * 1000:.1f} ms per session, wall {wall:.1f} s = {args.n / wall:.1f} sessions/s"
        " (client and server share this machine's 2 cores)"
    )


if __name__ == "__main__":
    main()
