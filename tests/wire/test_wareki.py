from __future__ import annotations

from datetime import date

import pytest

from wire.wareki import era_of, format_wareki, format_wareki_iso


@pytest.mark.parametrize(
    ("day", "text"),
    [
        (date(2026, 11, 26), "令和8年11月26日"),
        (date(2019, 5, 1), "令和元年5月1日"),
        (date(2019, 4, 30), "平成31年4月30日"),
        (date(2020, 1, 1), "令和2年1月1日"),
        (date(1989, 1, 8), "平成元年1月8日"),
        (date(1989, 1, 7), "昭和64年1月7日"),
        (date(1990, 1, 1), "平成2年1月1日"),
        (date(1926, 12, 25), "昭和元年12月25日"),
        (date(1926, 12, 24), "大正15年12月24日"),
        (date(1927, 1, 1), "昭和2年1月1日"),
        (date(1912, 7, 30), "大正元年7月30日"),
        (date(1912, 7, 29), "明治45年7月29日"),
        (date(1873, 1, 1), "明治6年1月1日"),
        (date(1980, 1, 1), "昭和55年1月1日"),
    ],
)
def test_boundaries(day: date, text: str) -> None:
    assert format_wareki(day) == text


def test_before_the_gregorian_calendar_is_refused() -> None:
    with pytest.raises(ValueError):
        format_wareki(date(1872, 12, 31))


def test_era_of() -> None:
    assert era_of(date(2026, 1, 1)) == ("令和", 8)


def test_iso_helper() -> None:
    assert format_wareki_iso("2015-06-30") == "平成27年6月30日"
    assert format_wareki_iso(None) == ""
    assert format_wareki_iso("") == ""


@pytest.mark.parametrize(
    ("year", "nendo", "bun"),
    [
        (2026, "令和8年度", "令和8年分"),
        (2019, "平成31年度", "令和元年分"),
        (2020, "令和2年度", "令和2年分"),
        (1989, "平成元年度", "平成元年分"),
    ],
)
def test_fiscal_and_calendar_years(year: int, nendo: str, bun: str) -> None:
    from wire.wareki import format_nendo, format_year

    assert format_nendo(year) == nendo
    assert format_year(year) == bun
