"""``python -m registry_sim serve`` as a real process for the tests, started with
``konbini_demo.processes.Service`` (its stdout and stderr in a log file of its own)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from konbini_demo.processes import Service, free_port

ROOT = Path(__file__).resolve().parents[2]
_starts = itertools.count(1)


@contextmanager
def serving(db: Path, *flags: str) -> Iterator[tuple[str, Service]]:
    """registry_sim serving ``db`` on a free port, once it has printed its listening line: its URL and
    the service (``.proc``; ``.log_path``, beside ``db``); killed (SIGKILL) on exit if it still runs."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    sim = Service(
        f"registry_sim-{next(_starts)}",  # a fresh log per start: the listening line is this one's
        ["registry_sim", "serve", "--db", str(db), "--port", str(port), *flags],
        db.parent,
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        sim.wait_log(f"registry_sim listening on {url}\n")
        yield url, sim
    finally:
        sim.kill()
