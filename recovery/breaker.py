"""A circuit breaker on the registry link, with hysteresis against a flapping registry.

closed: calls flow; ``failure_threshold`` consecutive failures open it. open: no calls until the
cool-down has passed; then one probe (half-open). A failed probe re-opens it with the cool-down doubled
(up to ``max_cooldown_s``), so a flapping registry makes the mode change less often, not more; the
cool-down returns to its base only after the breaker has stayed closed for ``stable_s``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class CircuitBreaker:
    failure_threshold: int = 3
    base_cooldown_s: float = 2.0
    max_cooldown_s: float = 60.0
    stable_s: float = 60.0
    now: Callable[[], float] = time.monotonic
    state: str = "closed"  # closed, open, half_open
    failures: int = 0
    cooldown_s: float = field(init=False)
    opened_at: float = 0.0
    closed_at: float = 0.0
    last_failure: str = ""

    def __post_init__(self) -> None:
        self.cooldown_s = self.base_cooldown_s

    def record_success(self) -> bool:
        """Returns True when this success closed the breaker."""
        self.failures = 0
        if self.state == "closed":
            if self.now() - self.closed_at > self.stable_s:
                self.cooldown_s = self.base_cooldown_s
            return False
        self.state, self.closed_at = "closed", self.now()
        return True

    def record_failure(self, reason: str, trip: bool = False) -> bool:
        """Returns True when this failure opened the breaker. ``trip`` opens it at once."""
        self.last_failure = reason
        self.failures += 1
        if self.state == "half_open":
            self.cooldown_s = min(self.cooldown_s * 2, self.max_cooldown_s)
            self._open()
            return False
        if self.state == "closed" and (trip or self.failures >= self.failure_threshold):
            if self.now() - self.closed_at < self.stable_s and self.closed_at:
                self.cooldown_s = min(self.cooldown_s * 2, self.max_cooldown_s)  # flapping: wait longer
            self._open()
            return True
        return False

    def _open(self) -> None:
        self.state, self.opened_at = "open", self.now()

    def probe_due(self) -> bool:
        return self.state == "open" and self.now() - self.opened_at >= self.cooldown_s

    def start_probe(self) -> None:
        self.state = "half_open"

    def as_json(self) -> dict[str, object]:
        return {
            "state": self.state,
            "consecutive_failures": self.failures,
            "cooldown_s": self.cooldown_s,
            "last_failure": self.last_failure,
        }
