"""The registry link, measured across real processes (registry_sim and the server):

- failover: registry SIGKILLed -> server in recovery mode, and whether a kiosk session in flight survives;
- feed lag p50/p99 at 500 changes/s;
- catch-up after an hour of recovery at 50 changes/s (180,000 changes);
- the version probe's cost per issuance (RegistryClient.versions on localhost).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import figures
from proc_cpu import by_role, children, cpu_seconds, thread_cpu

from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack
from recovery.registry_client import RegistryClient
from registry_sim.generator import DEMO_ATENA_NO
from registry_sim.tls_files import link_context

PARTS = ("probe", "failover", "lag", "catch-up")


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


def catch_up(stack: Stack, changes: int) -> None:
    stack.ops("mode", "recovery", "--reason", "bench: an hour of recovery")
    rate = 5000
    stack.registry().call(
        "POST", "/control/generate", {"rate": rate, "duration_s": changes / rate, "seed": 4}
    )
    wait(lambda: not stack.registry().call("GET", "/control/generate")["running"], changes / rate * 3 + 30)
    behind = stack.ops_status()["link"]
    registry_seq = stack.registry().call("GET", "/health")["seq"]
    # From the release to the server's own record of switching back to normal (caught up): neither a
    # command's start-up nor how often this process looks is counted, and looking seldom takes little of
    # the server's CPU from the catch-up.
    server = stack.services["server"].proc.pid
    sim = stack.services["registry_sim"].proc.pid
    cpu0 = {pid: cpu_seconds(pid) for pid in [sim, *children(server)]}
    threads0 = thread_cpu(server)
    t0 = time.time()
    stack.ops_call("POST", "/ops/api/mode", {"mode": "normal", "reason": "bench: released"})
    wait(lambda: mode(stack) == "normal", 120, every_s=0.25)
    server_roles = by_role(threads0, thread_cpu(server))
    others = {pid: cpu_seconds(pid) - cpu0.get(pid, 0.0) for pid in [sim, *children(server)]}
    since = stack.ops_status()["mode"]["since"]
    elapsed = datetime.fromisoformat(since.replace("Z", "+00:00")).timestamp() - t0
    assert caught_up(stack)
    caught = registry_seq - (behind["replica_seq"] or 0)
    figures.record(
        f"catch-up of {caught:,} changes",
        round(elapsed, 2),
        "s",
        round(3.0 * caught / 180_000, 2),
        detail=f"{elapsed / caught * 1e6:.1f} µs a change (goal 3 s for 180,000)",
    )
    print(
        f"catch-up {caught:,} changes (an hour of recovery at 50/s):"
        f" {elapsed:.2f} s (goal <= 3 s for 180,000; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)"
    )
    # Where the CPU went: with every process's CPU a change, the machine's cores bound the figure from below.
    us = 1e6 / caught
    checker = sum(seconds for pid, seconds in others.items() if pid != sim)
    total = sum(server_roles.values()) + sum(others.values())
    threads = ", ".join(
        f"{role} {seconds * us:.1f}" for role, seconds in sorted(server_roles.items(), key=lambda kv: -kv[1])
    )
    print(
        f"  CPU a change: server {sum(server_roles.values()) * us:.1f} µs ({threads}), its child processes"
        f" (the page checker) {checker * us:.1f} µs, registry_sim {others[sim] * us:.1f} µs; all"
        f" {total * us:.1f} µs: at best {total * us / (os.cpu_count() or 1):.1f} µs a change on"
        f" {os.cpu_count()} cores"
    )


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
    parser.add_argument("--residents", type=int, default=20_000)
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--lag-seconds", type=float, default=20)
    parser.add_argument("--catch-up-changes", type=int, default=180_000)
    parser.add_argument(
        "--only", choices=PARTS, action="append", help="run only these parts (repeatable; default: all)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(
            Path(tmp),
            residents=args.residents,
            server_settings={"KONBINI_BREAKER_COOLDOWN_S": "0.5", "KONBINI_BREAKER_STABLE_S": "2"},
        )
        try:
            stack.start()
            parts = args.only or PARTS
            kiosk = SoftKiosk(stack, DEMO_ATENA_NO)
            kiosk.register()
            if "probe" in parts:
                asyncio.run(probe_cost(stack, 300))
            if "failover" in parts:
                failover(stack, kiosk, args.trials)
            if "lag" in parts:
                feed_lag(stack, args.lag_seconds)
            if "catch-up" in parts:
                catch_up(stack, args.catch_up_changes)
        finally:
            stack.stop()


if __name__ == "__main__":
    main()
