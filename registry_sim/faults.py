"""Fault injection state of the registry sim (for tests of the registry link): down, slow, dying mid-snapshot."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class Faults:
    """``snapshot_abort_after``: snapshots stop after that many records and the connection is dropped
    (no end line); ``slow_ms``: every non-control answer waits that long; ``down``: every non-control
    endpoint answers 503."""

    snapshot_abort_after: int | None = None
    slow_ms: int = 0
    down: bool = False

    def update(self, changes: dict[str, Any]) -> None:
        """Apply a partial update (keys absent stay as they are); ``ValueError`` on a bad key or value."""
        unknown = set(changes) - {"snapshot_abort_after", "slow_ms", "down"}
        if unknown:
            raise ValueError(f"unknown fault(s): {', '.join(sorted(unknown))}")
        abort = changes.get("snapshot_abort_after", self.snapshot_abort_after)
        slow = changes.get("slow_ms", self.slow_ms)
        down = changes.get("down", self.down)
        if abort is not None and (not _is_int(abort) or abort < 0):
            raise ValueError("snapshot_abort_after must be null or an integer >= 0")
        if not _is_int(slow) or not 0 <= slow <= 600_000:
            raise ValueError("slow_ms must be an integer from 0 to 600000")
        if not isinstance(down, bool):
            raise ValueError("down must be true or false")
        self.snapshot_abort_after, self.slow_ms, self.down = abort, slow, down

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
