"""Fault injection state of the registry sim, for tests of the registry link.

Faults apply to every endpoint except ``/control/*``:

- ``down``: answer 503 ``{"error": {"code": "down"}}``;
- ``slow_ms``: wait that long before answering (also before a 503);
- ``flap_period_s``: alternate up and down every period, starting up when set (like ``down`` while down);
- ``garbage``: ``/feed``, ``/versions`` and ``/snapshot`` answer 200 with a malformed body: ``"syntax"`` (not
  JSON), ``"shape"`` (JSON, not the answer's shape) or ``"record"`` (the right shape, but a record lacking
  fields or versions that are not integers); ``true`` means ``"syntax"``;
- ``feed_abort_after``: a ``/feed`` answer with more changes than that stops after that many and the
  connection is dropped;
- ``snapshot_abort_after``: a snapshot stops after that many records and the connection is dropped.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Final

GARBAGE_MODES: Final = ("syntax", "shape", "record")


@dataclass
class Faults:
    """The current faults (see the module docstring); ``update`` changes them, ``as_dict`` shows them."""

    snapshot_abort_after: int | None = None
    slow_ms: int = 0
    down: bool = False
    flap_period_s: float | None = None
    garbage: str | None = None
    feed_abort_after: int | None = None
    _flap_since: float = field(default=0.0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.update({})
        self._flap_since = time.monotonic()

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (keys absent stay as they are); ``ValueError`` on a bad key or value."""
        unknown = set(changes) - set(self.as_dict())
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        merged = {**self.as_dict(), **changes}
        for name in ("snapshot_abort_after", "feed_abort_after"):
            value = merged[name]
            if value is not None and (not _is_int(value) or value < 0):
                raise ValueError(f"{name} must be null or an integer >= 0")
        slow = merged["slow_ms"]
        if not _is_int(slow) or not 0 <= slow <= 600_000:
            raise ValueError("slow_ms must be an integer from 0 to 600000")
        if not isinstance(merged["down"], bool):
            raise ValueError("down must be true or false")
        flap = merged["flap_period_s"]
        if flap is not None and (
            isinstance(flap, bool) or not isinstance(flap, int | float) or not 0 < flap <= 3600
        ):
            raise ValueError("flap_period_s must be null or a number of seconds from 0 (excluded) to 3600")
        garbage = merged["garbage"]
        if garbage is True:
            garbage = "syntax"
        if garbage is False:
            garbage = None
        if garbage is not None and garbage not in GARBAGE_MODES:
            raise ValueError(f"garbage must be false, true or one of {', '.join(GARBAGE_MODES)}")
        if "flap_period_s" in changes:
            self._flap_since = time.monotonic()
        self.snapshot_abort_after = merged["snapshot_abort_after"]
        self.feed_abort_after = merged["feed_abort_after"]
        self.slow_ms, self.down, self.garbage = slow, merged["down"], garbage
        self.flap_period_s = None if flap is None else float(flap)

    def is_down(self, now: float | None = None) -> bool:
        """Down now: ``down``, or in a down half of the flapping."""
        if self.down:
            return True
        if self.flap_period_s is None:
            return False
        elapsed = (time.monotonic() if now is None else now) - self._flap_since
        return int(elapsed / self.flap_period_s) % 2 == 1

    def as_dict(self) -> dict[str, Any]:
        return {
            "snapshot_abort_after": self.snapshot_abort_after,
            "slow_ms": self.slow_ms,
            "down": self.down,
            "flap_period_s": self.flap_period_s,
            "garbage": self.garbage,
            "feed_abort_after": self.feed_abort_after,
        }


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
