"""Server CPU per complete kiosk session (open, authenticate, menu, issue, fetch PDF, print report, end),
with and without TLS, side by side in one run.

Runs two stacks of real processes (registry_sim and the server): one serving kiosks over mutual TLS, one
with ``plain_http`` behind HAProxy (which then does the TLS); drives sessions on both in alternating
rounds with software cards (the card's own cost is in bench_card.py) and reads CPU time from /proc.
``--profile FILE`` also records the server with py-spy (``pip install py-spy``).
"""

from __future__ import annotations

import argparse
import dataclasses
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
from konbini_demo.tls_proxy import start_tls_proxy


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


def kiosks_of(stack: Stack, n: int, server: str | None = None) -> list[SoftKiosk]:
    """One registered card per concurrent worker (a card is in one reader at a time), warmed up."""
    kiosks = [SoftKiosk(stack, atena_no) for atena_no in eligible_adults(stack, n)]
    for kiosk in kiosks:
        kiosk.register()
        if server is not None:
            kiosk.creds = dataclasses.replace(kiosk.creds, server=server)
        assert "serial" in kiosk.session()  # warm up
    return kiosks


def run_sessions(
    kiosks: list[SoftKiosk], n: int, concurrency: int, pids: list[int]
) -> tuple[list[float], int]:
    """n sessions; the CPU seconds each pid spent meanwhile, and how many sessions failed."""
    cpu0 = [cpu_seconds(p) for p in pids]
    with ThreadPoolExecutor(concurrency) as pool:
        results = list(pool.map(lambda i: kiosks[i % len(kiosks)].session(), range(n)))
    return [cpu_seconds(p) - c for p, c in zip(pids, cpu0, strict=True)], sum(
        "serial" not in r for r in results
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--rounds", type=int, default=4, help="alternate TLS and plain batches this many times"
    )
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy profile (raw folded stacks) of the TLS server here"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        direct = Stack(Path(tmp) / "tls", residents=1000)
        proxied = Stack(Path(tmp) / "plain", residents=1000, server_settings={"KONBINI_PLAIN_HTTP": "1"})
        try:
            direct.start()
            proxied.start()
            haproxy, port = start_tls_proxy(proxied.server_dir, proxied.server_port, proxied.logs)
            proxied.services["haproxy"] = haproxy
            tls_kiosks = kiosks_of(direct, args.concurrency)
            plain_kiosks = kiosks_of(proxied, args.concurrency, f"https://127.0.0.1:{port}")
            tls_pid = direct.services["server"].proc.pid
            plain_pids = [proxied.services["server"].proc.pid, haproxy.proc.pid]
            spy = None
            if args.profile:
                py_spy = str(Path(sys.executable).parent / "py-spy")
                spy = subprocess.Popen(
                    [
                        py_spy,
                        "record",
                        "-p",
                        str(tls_pid),
                        "-o",
                        str(args.profile),
                        "-f",
                        "raw",
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)
            batch = max(1, args.n // args.rounds)
            tls_cpu = plain_cpu = proxy_cpu = 0.0
            failed = 0
            t0 = time.perf_counter()
            for _ in range(args.rounds):  # side by side: drift on the machine touches both alike
                [cpu], bad = run_sessions(tls_kiosks, batch, args.concurrency, [tls_pid])
                tls_cpu, failed = tls_cpu + cpu, failed + bad
                [cpu, proxy], bad = run_sessions(plain_kiosks, batch, args.concurrency, plain_pids)
                plain_cpu, proxy_cpu, failed = plain_cpu + cpu, proxy_cpu + proxy, failed + bad
            wall = time.perf_counter() - t0
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
        finally:
            proxied.stop()
            direct.stop()
    n = batch * args.rounds

    def ms(cpu: float) -> str:
        return f"{cpu / n * 1000:.1f} ms"

    print(
        f"{n} + {n} kiosk sessions ({failed} failed), {args.concurrency} at a time, in {args.rounds} alternating"
        f" rounds ({2 * n / wall:.1f} sessions/s; client and server share this machine's 2 cores)"
    )
    print(f"server CPU per session over mutual TLS (a new TLS connection each session): {ms(tls_cpu)}")
    print(f"server CPU per session without TLS (plain HTTP behind HAProxy):            {ms(plain_cpu)}")
    print(
        f"TLS costs the server {ms(tls_cpu - plain_cpu)} a session ({(tls_cpu / plain_cpu - 1) * 100:+.0f}%);"
        f" HAProxy doing it instead: {ms(proxy_cpu)} a session"
    )


if __name__ == "__main__":
    main()
