"""What a connection that never finishes TLS costs the issuance server, and its peak memory under a flood of
them with the connection gate's caps (issue 27 M4); a real server process, no registry.

    .venv/bin/python bench/bench_connection_flood.py [--connections 10000] [--uncapped 3000]

First ``--uncapped`` connections against caps too high to matter (and a 60 s handshake): RSS growth per
connection. Then ``--connections`` from one address against the default caps (1,000 in all, 200 a source,
10 s handshake): connections kept, peak RSS above idle, and the bound (the caps times the per-connection
cost) it must stay under.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import figures

from konbini_demo.connection_flood import PeakRss, close_all, flood, raise_fd_limit, rss_mib, still_open
from konbini_demo.processes import run
from konbini_demo.stack import Stack


def server(root: Path, **settings: str) -> Stack:
    stack = Stack(root, server_settings={"KONBINI_REGISTRY_LINK": "false", **settings})
    run(["devices.card.cli", "init-ca", "--dir", str(stack.ca_dir)])
    stack.start_server()
    time.sleep(1.0)  # settle after start
    return stack


def measure(stack: Stack, n: int) -> tuple[int, float, float]:
    """(kept, idle MiB, peak MiB) for ``n`` connections from this address."""
    pid = stack.services["server"].proc.pid
    idle = rss_mib(pid)
    with PeakRss(pid) as peak:
        held = flood("127.0.0.1", stack.server_port, n)
        kept = still_open(held, settle_s=2.0)
    close_all(held)
    return kept, idle, peak.peak_mib


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--uncapped", type=int, default=3_000)
    args = parser.parse_args()
    raise_fd_limit(max(args.connections, args.uncapped) + 600)
    with tempfile.TemporaryDirectory(prefix="konbini-flood-") as tmp:
        uncapped = server(Path(tmp) / "uncapped", KONBINI_MAX_CONNECTIONS="100000",
                          KONBINI_MAX_CONNECTIONS_PER_SOURCE="100000", KONBINI_TLS_HANDSHAKE_TIMEOUT_S="60")  # fmt: skip
        try:
            kept, idle, peak = measure(uncapped, args.uncapped)
        finally:
            uncapped.stop()
        cost = (peak - idle) / max(kept, 1)
        print(
            f"uncapped: {kept:,} connections held, RSS {idle:.0f} -> {peak:.0f} MiB: {cost:.3f} MiB a connection"
        )
        figures.record("memory a pending TLS connection", round(cost, 3), "MiB", 0.4)  # the e2e test's figure
        capped = server(Path(tmp) / "capped")
        try:
            kept, idle, peak = measure(capped, args.connections)
        finally:
            capped.stop()
        bound = 1000 * cost
        print(f"default caps: {args.connections:,} attempts from one address, {kept} kept (cap 200 a source);"
              f" RSS {idle:.0f} -> peak {peak:.0f} MiB (+{peak - idle:.0f}; bound for 1,000 connections"
              f" +{bound:.0f})")  # fmt: skip
        figures.record("peak RSS growth under a connection flood", round(peak - idle), "MiB", round(bound))


if __name__ == "__main__":
    main()
