"""Progress of long work on stderr, by tqdm: on a terminal a bar with percentage, rate and time left; in a
log (CI, a service) the same figures as a line every few seconds."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    def __init__(self, what: str, unit: str, total: int | None = None, every_s: float = 2.0) -> None:
        self.what, self.unit, self.every_s = what, unit, every_s
        self.tty = sys.stderr.isatty()
        self.bar = tqdm(
            total=total, desc=what, unit=f" {unit}", unit_scale=True, file=sys.stderr, disable=not self.tty
        )
        self.started = time.monotonic()
        self.shown = 0.0
        self.n = 0
        self.total = total

    def update_to(self, n: int, total: int | None = None) -> None:
        """The work done so far (and the whole, once it is known)."""
        if total is not None and total != self.total:
            self.total = self.bar.total = total
        self.bar.update(n - self.n)
        self.n = n
        now = time.monotonic()
        if not self.tty and now - self.shown >= self.every_s:
            self.shown = now
            print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        return tqdm.format_meter(
            self.n, self.total, time.monotonic() - self.started, prefix=self.what, unit=f" {self.unit}",
            unit_scale=True, ncols=100,
        )  # fmt: skip

    def close(self) -> None:
        self.bar.close()
        if not self.tty:
            print(self.line(), file=sys.stderr, flush=True)  # where it ended
