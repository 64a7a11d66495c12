"""Issue 12, point 4: a new fiscal year's tax certificates open on the city's day (setting
``tax_year_opens``); before it, asking for that year is refused with the day. And the 納税証明書's
``unpaid_tax`` rule read from the instalments."""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from issuance_server.issuing.eligibility import Facts, IssueRequest, Policy, refusal_for
from issuance_server.settings import SettingsError, load_settings
from tests.factories import resident, tax
from tests.server.conftest import Env
from tests.server.test_refusals import issue, menu, session_for
from wire.clock import JST, jst_now

KAGOSHIMA = (6, 10)
KITAKYUSHU = (6, 4)


def facts(day: str, record: dict[str, Any]) -> Facts:
    now = datetime.fromisoformat(f"{day}T10:00:00").replace(tzinfo=JST)
    return Facts(now=now, holder=resident("0000000101"), tax={record["fiscal_year"]: record})


def decide(
    day: str, record: dict[str, Any], kind: str = "tax_income", opens: tuple[int, int] = KAGOSHIMA
) -> Any:
    policy = Policy(False, None, tax_year_opens=opens)
    return refusal_for(IssueRequest(kind, fiscal_year=record["fiscal_year"]), facts(day, record), policy)


def test_the_new_year_is_refused_before_its_day_naming_the_day() -> None:
    record = tax("0000000101", 2026)
    refusal = decide("2026-06-09", record)
    assert refusal is not None and refusal.code == "fiscal_year_not_open"
    assert refusal.message_ja == "令和8年度の証明書は6月10日から発行できます。"
    assert "10 June" in refusal.message_en and "2026" in refusal.message_en
    assert refusal.for_kiosk() == {
        "code": "fiscal_year_not_open",
        "params": {"fiscal_year": "2026", "month": "6", "day": "10"},
    }
    assert decide("2026-06-10", record) is None and decide("2026-11-30", record) is None
    assert decide("2026-04-01", record).code == "fiscal_year_not_open"  # the fiscal year has begun
    # the year before stays available until the new one opens, then four years back from it
    assert decide("2026-06-09", tax("0000000101", 2022)) is None
    assert decide("2026-06-10", tax("0000000101", 2022)).code == "fiscal_year_unavailable"


def test_another_city_opens_on_its_own_day() -> None:
    record = tax("0000000101", 2024)
    refusal = decide("2024-06-03", record, opens=KITAKYUSHU)
    assert refusal is not None and refusal.message_ja == "令和6年度の証明書は6月4日から発行できます。"
    assert decide("2024-06-04", record, opens=KITAKYUSHU) is None


@pytest.mark.parametrize("value", ["13-01", "6-10", "02-29", "03-31", "june"])
def test_the_opening_day_is_checked_at_start(value: str) -> None:
    with pytest.raises(SettingsError, match="tax_year_opens"):
        load_settings(env={"KONBINI_TAX_YEAR_OPENS": value})
    assert load_settings(env={}).tax_year_opens == "06-10"  # Kagoshima City's kiosk opening day
    assert load_settings(env={"KONBINI_TAX_YEAR_OPENS": "06-04"}).tax_year_opens == "06-04"


def test_unpaid_tax_is_an_instalment_past_its_due_date() -> None:
    overdue = tax("0000000101", 2025, unpaid=1_000)  # 第4期 past due, partly unpaid
    assert decide("2026-11-30", overdue, "tax_payment").code == "unpaid_tax"
    assert decide("2026-11-30", overdue, "tax_income") is None  # only the 納税証明書 asks
    items = [[1, "2026-06-30", 100_000, 100_000], [2, "2026-08-31", 123_000, 0]]
    not_due = tax("0000000101", 2026, instalments=json.dumps(items))
    assert decide("2026-08-31", not_due, "tax_payment") is None  # due today: not yet late
    assert decide("2026-09-01", not_due, "tax_payment").code == "unpaid_tax"
    special = tax("0000000101", 2026, collection="special", instalments="[[0,null,223000,null]]")
    assert decide("2027-05-31", special, "tax_payment") is None  # the employer owes it, not the resident


def _opening_on(day: datetime) -> str | None:
    """``MM-DD`` of ``day`` if it can be an opening day (1 April to 31 December), else None."""
    return f"{day:%m-%d}" if (day.month, day.day) >= (4, 1) else None


async def test_through_the_kiosk_api_refused_before_and_issued_on_the_day(env: Env) -> None:
    today, tomorrow = jst_now(), jst_now() + timedelta(days=1)
    opens_today, opens_tomorrow = _opening_on(today), _opening_on(tomorrow)
    if opens_today is None or opens_tomorrow is None or tomorrow.year != today.year:
        pytest.skip("needs a day from 1 April to 30 December (the new fiscal year has begun)")
    year = today.year
    env.core.settings = dataclasses.replace(env.core.settings, tax_year_opens=opens_tomorrow)
    session = await session_for(env, "0000000101")
    items = await menu(env, session)
    first = items["tax_income"]["fiscal_years"][0]
    params = {"fiscal_year": str(year), "month": str(tomorrow.month), "day": str(tomorrow.day)}
    assert first == {
        "fiscal_year": year,
        "available": False,
        "refusal": {"code": "fiscal_year_not_open", "params": params},
    }
    status, answer = await issue(env, session, {"kind": "tax_income", "fiscal_year": year})
    assert status == 403 and answer["error"]["refusal"] == {"code": "fiscal_year_not_open", "params": params}
    env.core.settings = dataclasses.replace(env.core.settings, tax_year_opens=opens_today)
    session = await session_for(env, "0000000101")
    status, answer = await issue(env, session, {"kind": "tax_income", "fiscal_year": year})
    assert status in (200, 201), answer
