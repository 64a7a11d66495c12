"""Time in one place: UTC timestamps for records, Japan time for what residents see."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

JST = timezone(timedelta(hours=9), "JST")


def utc_now() -> datetime:
    return datetime.now(UTC)


def utc_now_iso() -> str:
    return utc_now().isoformat(timespec="milliseconds").replace("+00:00", "Z")


def to_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def jst_now() -> datetime:
    return datetime.now(JST)


_ANCHOR = (time.time(), time.monotonic())  # the wall clock as this process found it, and the monotonic one


def steady_time() -> float:
    """Seconds since the epoch that no step of the wall clock moves: the wall clock as this process found it
    at its start, advanced by the monotonic clock (which NTP slews but never steps). For expiries that the
    nodes keep in the database (a kiosk session's idle end, its nonce): a clock stepped back or forward
    during sessions ends none early and keeps none longer. Nodes agree as far as their wall clocks agreed
    when each started; a node started after a step carries the step (restart it once the clock is right)."""
    return _ANCHOR[0] + time.monotonic() - _ANCHOR[1]
