"""The background change generator of a running sim: ``rate`` changes a second, one batch per tick.

Every ``TICK_S`` the generator writes, in one transaction, as many changes as are due since it started
(``registry_sim.events`` draws them), so 500 changes/s are about 10 a tick. A tick that cannot keep up
leaves the rest for the next one, at most ``MAX_BACKLOG_S`` seconds' worth at a time: ``achieved_rate`` in
the state shows what was sustained. With a duration, the generator stops when it is over, due or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Final, TypeVar

from registry_sim.changelog import StoreWriter
from registry_sim.events import CityEvents
from registry_sim.linkage_file import utc_now_iso

log = logging.getLogger("registry_sim.churn")

TICK_S: Final = 0.02
MAX_BACKLOG_S: Final = 0.5
MAX_RATE: Final = 100_000.0
T = TypeVar("T")
Write = Callable[[Callable[[StoreWriter], T]], Awaitable[T]]


def _tick(writer: StoreWriter, events: CityEvents, due: int) -> int:
    with writer.batch() as batch:
        return events.run(batch, due)


class Churn:
    """Start, stop and watch the generator; ``write`` runs a function on the sim's writer thread."""

    def __init__(self, write: Write[int]) -> None:
        self._write = write
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()
        self._events: CityEvents | None = None
        self._info: dict[str, Any] = {"running": False, "rate": 0, "duration_s": None, "seed": None}
        self._changes = 0
        self._failures = 0
        self._last_failure: str | None = None
        self._started = 0.0
        self._elapsed = 0.0

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self, rate: float, duration_s: float | None, seed: int) -> None:
        """(Re)start at ``rate`` changes/s for ``duration_s`` seconds (None: until stopped)."""
        await self.stop()
        self._events = CityEvents(seed)
        self._changes = self._failures = 0
        self._last_failure = None
        self._started, self._elapsed = time.monotonic(), 0.0
        self._info = {
            "running": True,
            "rate": rate,
            "duration_s": duration_s,
            "seed": seed,
            "started_at": utc_now_iso(),
            "stopped_at": None,
        }
        self._stop = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(self._events, rate, duration_s))
        log.info("change generator started: %s changes/s", rate)

    async def stop(self) -> None:
        """Stop after the tick in progress (its changes are committed)."""
        if self._task is None:
            return
        self._stop.set()
        await asyncio.wait({self._task})
        self._task = None

    def state(self) -> dict[str, Any]:
        events = self._events
        elapsed = time.monotonic() - self._started if self.running else self._elapsed
        return {
            **self._info,
            "running": self.running,
            "changes": self._changes,
            "achieved_rate": round(self._changes / elapsed, 1) if elapsed > 0 else 0.0,
            "events": dict(sorted(events.done.items())) if events else {},
            "errors": (events.errors if events else 0) + self._failures,
            "last_error": self._last_failure or (events.last_error if events else None),
        }

    def _failed(self, exc: Exception) -> None:
        self._failures += 1
        self._last_failure = f"{type(exc).__name__}: {exc}"
        if self._failures in (1, 10, 100) or self._failures % 1000 == 0:
            log.warning("change generator tick failed (%d so far): %s", self._failures, self._last_failure)

    async def _run(self, events: CityEvents, rate: float, duration_s: float | None) -> None:
        started = time.monotonic()
        try:
            while not self._stop.is_set():
                elapsed = time.monotonic() - started
                last = duration_s is not None and elapsed >= duration_s
                if duration_s is not None:
                    elapsed = min(elapsed, duration_s)
                due = min(int(rate * elapsed) - self._changes, int(rate * MAX_BACKLOG_S) + 1)
                if due > 0:
                    try:
                        self._changes += await self._write(partial(_tick, events=events, due=due))
                    except Exception as exc:  # the store is missing or broken: say so, keep trying
                        self._failed(exc)
                        await asyncio.sleep(0.5)
                if last:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), TICK_S)
        finally:
            self._elapsed = time.monotonic() - started
            self._info["stopped_at"] = utc_now_iso()
            log.info("change generator stopped after %d changes", self._changes)
