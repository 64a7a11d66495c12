"""When kiosks may issue: daily service hours, yearly closed days (年末年始), planned maintenance windows; and
the city hall's office hours and days (when staff work is expected, for the audit review)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from wire.clock import JST


def _hhmm(text: str) -> time:
    hours, minutes = text.strip().split(":")
    h, m = int(hours), int(minutes)
    return time(23, 59, 59, 999999) if (h, m) == (24, 0) else time(h, m)


def _hhmm_text(t: time) -> str:
    return "24:00" if t == time(23, 59, 59, 999999) else t.strftime("%H:%M")


@dataclass(frozen=True)
class ServiceCalendar:
    opens: time
    closes: time
    closed_days: frozenset[tuple[int, int]]
    maintenance: tuple[tuple[datetime, datetime], ...]

    @classmethod
    def parse(cls, hours: str, closed_days: str, maintenance: str) -> ServiceCalendar:
        """Raises ValueError naming the setting that is malformed."""
        try:
            start, end = hours.split("-")
            opens, closes = _hhmm(start), _hhmm(end)
        except ValueError:
            raise ValueError(f"service_hours must look like 06:30-23:00, not {hours!r}") from None
        if opens >= closes:
            raise ValueError(
                f"service_hours must open before they close on the same day (00:00-24:00 for all day), not {hours!r}"
            )
        try:
            days = frozenset(
                (int(d.split("-")[0]), int(d.split("-")[1])) for d in closed_days.split(",") if d.strip()
            )
            for month, day in days:
                date(2000, month, day)  # a leap year: 02-29 is a day
        except (ValueError, IndexError):
            raise ValueError(
                f"closed_days must be days of the year like 12-29,01-03, not {closed_days!r}"
            ) from None
        windows = []
        for item in (w.strip() for w in maintenance.split(",")):
            if not item:
                continue
            try:
                a, b = item.split("/")
                windows.append(
                    (
                        datetime.fromisoformat(a).replace(tzinfo=JST),
                        datetime.fromisoformat(b).replace(tzinfo=JST),
                    )
                )
            except ValueError:
                raise ValueError(
                    f"maintenance window must look like 2026-12-01T01:00/2026-12-01T05:00: {item!r}"
                ) from None
        return cls(opens, closes, days, tuple(windows))

    def params(self, reason: str, now: datetime) -> dict[str, str]:
        """What a resident needs to know about a closure (the kiosk renders it in their language):
        the service hours, the closed days, or the end of the maintenance window."""
        if reason == "outside_hours":
            return {"opens": self.opens.strftime("%H:%M"), "closes": _hhmm_text(self.closes)}
        if reason == "year_end_closed":
            return {"closed_days": ",".join(f"{m:02d}-{d:02d}" for m, d in sorted(self.closed_days))}
        local = now.astimezone(JST)
        ends = [b for a, b in self.maintenance if a <= local < b]
        return {"until": ends[0].strftime("%Y-%m-%dT%H:%M")} if ends else {}

    def closed_reason(self, now: datetime) -> str | None:
        """None when kiosks may issue at ``now``; else the refusal code."""
        local = now.astimezone(JST)
        if any(a <= local < b for a, b in self.maintenance):
            return "maintenance"
        if (local.month, local.day) in self.closed_days:
            return "year_end_closed"
        if not (self.opens <= local.time() < self.closes):
            return "outside_hours"
        return None


WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_office_hours(text: str) -> tuple[time, time]:
    """``HH:MM-HH:MM``; raises ValueError saying what is allowed."""
    try:
        a, b = (time.fromisoformat(part.strip()) for part in text.split("-"))
    except ValueError:
        raise ValueError(f"office_hours must look like 08:30-17:15, not {text!r}") from None
    if a >= b:
        raise ValueError(f"office_hours must open before they close, not {text!r}")
    return a, b


def parse_office_days(text: str) -> frozenset[int]:
    days = [d.strip().lower() for d in text.split(",") if d.strip()]
    if not days or any(d not in WEEKDAYS for d in days):
        raise ValueError(f"office_days must be days such as mon,tue,wed,thu,fri, not {text!r}")
    return frozenset(WEEKDAYS.index(d) for d in days)
