"""Failed staff logins counted per source address: after ``staff_source_max_failures`` in
``staff_source_window_s`` the address waits (429 ``login_throttled``) without touching any account, so one
source cannot lock a staff account (the only administrator included): the account lockout needs
``staff_max_failures``, more than a source is let to make. The first throttling of an address is logged as
a warning and audited, the alert ops watch for. The server machine itself (loopback) is not throttled.
Kept in memory, per server process."""

from __future__ import annotations

import ipaddress
import math
import time
from collections import deque
from collections.abc import Callable

from aiohttp import web

from issuance_server.api_errors import ApiError

_MAX_SOURCES = 10_000  # addresses remembered at most (the oldest are forgotten first)


class LoginThrottle:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._failures: dict[str, deque[float]] = {}
        self._clock = clock

    def _recent(self, source: str, window_s: float) -> deque[float]:
        times = self._failures.get(source, deque())
        while times and times[0] <= self._clock() - window_s:
            times.popleft()
        return times

    def refuse_if_throttled(self, source: str, limit: int, window_s: float) -> None:
        times = self._recent(source, window_s)
        if len(times) >= limit:
            wait = max(1, math.ceil(times[0] + window_s - self._clock()))
            raise ApiError(
                429, "login_throttled",
                f"too many failed logins from this address; try again in {math.ceil(wait / 60)} minutes",
                retry_after_s=wait,
            )  # fmt: skip

    def attempt(self, source: str, limit: int, window_s: float) -> float:
        """Count an attempt before it is checked (so parallel attempts cannot pass the limit), or refuse
        it; its mark, to give back with :meth:`succeeded`."""
        self.refuse_if_throttled(source, limit, window_s)
        mark = self._clock()
        self._count(source, window_s, mark)
        return mark

    def succeeded(self, source: str, mark: float) -> None:
        """The attempt was right: it does not count against the address."""
        times = self._failures.get(source)
        if times is not None and mark in times:
            times.remove(mark)

    def reaches(self, source: str, limit: int, window_s: float) -> bool:
        """True when the address has just reached the limit (the moment to alert)."""
        return len(self._recent(source, window_s)) == limit

    def failed(self, source: str, limit: int, window_s: float) -> bool:
        """Count a failure; True when it makes the address wait (the moment to alert)."""
        self._count(source, window_s, self._clock())
        return self.reaches(source, limit, window_s)

    def _count(self, source: str, window_s: float, mark: float) -> None:
        times = self._recent(source, window_s)
        times.append(mark)
        self._failures.pop(source, None)
        self._failures[source] = times  # the most recent last
        while len(self._failures) > _MAX_SOURCES:
            del self._failures[next(iter(self._failures))]


THROTTLE: web.AppKey[LoginThrottle] = web.AppKey("login_throttle", LoginThrottle)


def is_loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False
