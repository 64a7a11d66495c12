"""和暦 (Japanese era) dates as printed on certificates: ``令和8年11月26日``, ``平成元年1月8日``.

Each era begins on the day of the accession, which is the new era's 元年 (year 1): 大正 1912-07-30,
昭和 1926-12-25, 平成 1989-01-08, 令和 2019-05-01 (so 1989-01-07 is 昭和64年1月7日 and 1989-01-08 is
平成元年1月8日). 明治 is supported from 1873-01-01 (明治6年1月1日), the day Japan adopted the Gregorian
calendar; an earlier date would need a lunisolar conversion and is refused rather than printed wrongly.
"""

from __future__ import annotations

from datetime import date
from typing import Final

# (first day, era name), newest first.
ERAS: Final[tuple[tuple[date, str], ...]] = (
    (date(2019, 5, 1), "令和"),
    (date(1989, 1, 8), "平成"),
    (date(1926, 12, 25), "昭和"),
    (date(1912, 7, 30), "大正"),
    (date(1868, 10, 23), "明治"),
)
# The Gregorian calendar replaced the lunisolar one on 明治6年1月1日 (1873-01-01): earlier Gregorian dates
# have no faithful 和暦 form without a lunisolar conversion table.
EARLIEST: Final = date(1873, 1, 1)


def era_of(day: date) -> tuple[str, int]:
    """(era name, era year) of ``day``."""
    if day < EARLIEST:
        raise ValueError(f"{day.isoformat()} is before 1873-01-01; no 和暦 form is printed for it")
    for start, name in ERAS:
        if day >= start:
            return name, day.year - start.year + 1
    raise AssertionError("unreachable: EARLIEST is within 明治")


def format_wareki(day: date) -> str:
    """``令和8年11月26日``; year 1 is written ``元年``."""
    name, year = era_of(day)
    year_text = "元" if year == 1 else str(year)
    return f"{name}{year_text}年{day.month}月{day.day}日"


def format_wareki_iso(value: str | None) -> str:
    """:func:`format_wareki` of an ISO ``YYYY-MM-DD`` string; ``""`` for ``None`` or ``""``."""
    if not value:
        return ""
    return format_wareki(date.fromisoformat(value))


def _year_text(day: date) -> str:
    name, year = era_of(day)
    return f"{name}{'元' if year == 1 else year}"


def format_nendo(fiscal_year: int) -> str:
    """The fiscal year (年度, April to March) in 和暦: 2026 -> ``令和8年度``; its era is that of 1 April."""
    return f"{_year_text(date(fiscal_year, 4, 1))}年度"


def format_year(year: int) -> str:
    """A calendar year (年分, as income years are named) in 和暦: 2025 -> ``令和7年分``; era of 31 December."""
    return f"{_year_text(date(year, 12, 31))}年分"
