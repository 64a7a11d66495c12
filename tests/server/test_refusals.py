"""Every refusal reason, through the kiosk API: the menu says why, and issuing is refused with the code."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import time
from pathlib import Path
from typing import Any

import pytest

from issuance_server.issuing.eligibility import REFUSALS, TOLD_ONLY_AT_CITY_HALL, kiosk_fiscal_years
from issuance_server.service_hours import ServiceCalendar
from tests.factories import resident
from tests.server.conftest import Env, city, load_replica, make_card
from wire.clock import jst_now
from wire.kiosk_api import API_PREFIX, ASK_AT_CITY_HALL

FY = kiosk_fiscal_years(jst_now().date())


CARDS: dict[tuple[Path, str], Any] = {}  # a card per resident and test, registered once


async def session_for(env: Env, atena_no: str) -> dict[str, Any]:
    card = env.card if atena_no == "0000000101" else CARDS.get((env.tmp, atena_no))
    if card is None:
        card = make_card(env.tmp / "card-ca", env.tmp / "cards" / f"{atena_no}.json")
        resp = await env.register(atena_no, card)
        assert resp.status == 201, await resp.text()
        CARDS[env.tmp, atena_no] = card
    session = await env.open_session()
    resp = await env.authenticate(session, card=card)
    assert resp.status == 200, await resp.text()
    return session


async def menu(env: Env, session: dict[str, Any]) -> dict[str, dict[str, Any]]:
    resp = await env.kiosk.get(
        f"{API_PREFIX}/sessions/{session['session_id']}/menu", headers=env.kiosk_headers
    )
    assert resp.status == 200
    return {i["kind"]: i for i in (await resp.json())["items"]}


async def issue(env: Env, session: dict[str, Any], body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    resp = await env.buy(session, body)
    return resp.status, await resp.json()


CASES: list[tuple[str, dict[str, Any], str]] = [
    ("0000000102", {"kind": "juminhyo"}, "under_15"),
    ("0000000103", {"kind": "juminhyo"}, "moveout_planned"),
    ("0000000104", {"kind": "juminhyo"}, "unprintable_character"),
    ("0000000106", {"kind": "juminhyo"}, "in_transition"),
    ("0000000107", {"kind": "juminhyo"}, "support_measure"),
    ("0000000109", {"kind": "juminhyo", "scope": "household"}, "household_moveout_planned"),
    ("0000000109", {"kind": "inkan"}, "no_active_seal"),
    ("0000000111", {"kind": "inkan"}, "seal_cancelled"),
    ("0000000109", {"kind": "tax_income", "fiscal_year": FY[0]}, "no_tax_record"),
    ("0000000101", {"kind": "tax_income", "fiscal_year": FY[1]}, "no_return_filed"),
    ("0000000101", {"kind": "tax_status", "fiscal_year": FY[2]}, "not_resident_jan1"),
    ("0000000101", {"kind": "tax_payment", "fiscal_year": FY[3]}, "unpaid_tax"),
    ("0000000101", {"kind": "tax_income", "fiscal_year": FY[3] - 1}, "fiscal_year_unavailable"),
    ("0000000101", {"kind": "juminhyo", "options": ["kojin_bango"]}, "option_not_allowed"),
]


@pytest.mark.parametrize(("atena_no", "body", "code"), CASES, ids=[c[2] for c in CASES])
async def test_refusal_through_the_kiosk_api(
    env: Env, atena_no: str, body: dict[str, Any], code: str
) -> None:
    session = await session_for(env, atena_no)
    status, answer = await issue(env, session, body)
    assert status == 403, answer
    assert answer["error"]["code"] == "refused"
    refusal = answer["error"]["refusal"]
    shown = ASK_AT_CITY_HALL if code in TOLD_ONLY_AT_CITY_HALL else code
    assert refusal == {"code": shown, "params": {}}
    # The desk's record keeps the real reason.
    row = await env.core.db.fetchone(
        "SELECT details FROM audit_log WHERE action = 'quote' AND result = 'refused' ORDER BY seq DESC LIMIT 1"
    )
    assert row is not None
    assert json.loads(row["details"])["reason"] == code


async def test_a_kiosk_never_learns_a_reason_told_only_at_the_city_hall(env: Env) -> None:
    """Walk every refusal case, menus and quotes: no telling code, word or message reaches the kiosk."""
    seen = []
    for atena_no, body, _code in CASES:
        session = await session_for(env, atena_no)
        resp = await env.kiosk.get(
            f"{API_PREFIX}/sessions/{session['session_id']}/menu", headers=env.kiosk_headers
        )
        seen.append(await resp.text())
        seen.append(json.dumps((await issue(env, session, body))[1]))
    text = "\n".join(seen)
    assert ASK_AT_CITY_HALL in text  # the neutral code was shown (support_measure, in_transition, ...)
    for code in TOLD_ONLY_AT_CITY_HALL:
        assert code not in text
        assert REFUSALS[code].message_en not in text and REFUSALS[code].message_ja not in text
    assert "message_ja" not in text and "label_ja" not in text  # codes, not sentences


async def test_menu_shows_what_may_be_had_and_why_not(env: Env) -> None:
    items = await menu(env, await session_for(env, "0000000101"))
    assert items["juminhyo"]["available"] and items["inkan"]["available"]
    years = {y["fiscal_year"]: y for y in items["tax_income"]["fiscal_years"]}
    assert years[FY[0]]["available"] and years[FY[1]]["refusal"]["code"] == "no_return_filed"
    payment_years = {y["fiscal_year"]: y for y in items["tax_payment"]["fiscal_years"]}
    assert payment_years[FY[3]]["refusal"]["code"] == "unpaid_tax"
    assert [m["relationship"] for m in items["juminhyo"]["members"]] == ["世帯主", "子"]
    assert "kojin_bango" not in items["juminhyo"]["options"]
    other = await menu(env, await session_for(env, "0000000109"))
    scopes = {s["scope"]: s for s in other["juminhyo"]["scopes"]}
    assert (
        scopes["self"]["available"] and scopes["household"]["refusal"]["code"] == "household_moveout_planned"
    )
    assert other["inkan"]["refusal"]["code"] == "no_active_seal"
    assert other["tax_income"]["refusal"]["code"] == "no_tax_record"


@pytest.mark.parametrize(
    ("calendar", "code"),
    [  # made when the test runs (not when it is collected): "today" must still be today then
        (lambda: ServiceCalendar(time(0, 0), time(0, 0), frozenset(), ()), "outside_hours"),  # every hour
        (lambda: ServiceCalendar.parse("00:00-24:00", f"{jst_now():%m-%d}", ""), "year_end_closed"),
        (
            lambda: ServiceCalendar.parse("00:00-24:00", "", "2000-01-01T00:00/2100-01-01T00:00"),
            "maintenance",
        ),
    ],
)
async def test_service_calendar_refuses(env: Env, calendar: Callable[[], ServiceCalendar], code: str) -> None:
    session = await session_for(env, "0000000101")
    env.core.calendar = calendar()
    status, answer = await issue(env, session, {"kind": "juminhyo"})
    assert status == 403 and answer["error"]["refusal"]["code"] == code
    opened = await env.open_session()
    assert opened["service"] == "closed" and opened["service_reason"]["code"] == code
    assert answer["error"]["refusal"]["params"] == opened["service_reason"]["params"]


async def test_removed_after_registration_is_refused(env: Env) -> None:
    records = city()
    card = make_card(env.tmp / "card-ca", env.tmp / "cards" / "mover.json")
    assert (await env.register("0000000111", card)).status == 201
    for rec in records:
        if rec.get("atena_no") == "0000000111":
            rec.update(status="removed", removal_reason="moved_out")
    await load_replica(env.core, records, seq=2)
    session = await env.open_session()
    assert (await env.authenticate(session, card=card)).status == 200
    status, answer = await issue(env, session, {"kind": "juminhyo"})
    assert status == 403 and answer["error"]["refusal"]["code"] == ASK_AT_CITY_HALL


async def test_chosen_members_must_be_of_the_household(env: Env) -> None:
    session = await session_for(env, "0000000101")
    status, answer = await issue(
        env, session, {"kind": "juminhyo", "scope": "members", "members": ["feedface"]}
    )
    assert status == 400 and answer["error"]["code"] == "bad_field"
    status, answer = await issue(env, session, {"kind": "juminhyo", "scope": "galaxy"})
    assert status == 400 and answer["error"]["code"] == "bad_field"


async def test_a_protected_household_member_cannot_be_found_by_choosing_members(env: Env) -> None:
    records = city()
    records.append(
        resident(
            "0000000112", name="保護　対象", support_measure=1, relationship="子", household_no="1000000101"
        )
    )
    await load_replica(env.core, records, seq=2)
    session = await session_for(env, "0000000101")
    item = (await menu(env, session))["juminhyo"]
    scopes = {s["scope"]: s for s in item["scopes"]}
    assert scopes["self"]["available"]
    for scope in ("household", "members"):
        assert not scopes[scope]["available"] and scopes[scope]["refusal"]["code"] == ASK_AT_CITY_HALL
    for member in item["members"]:  # each member alone, the protected one or not: the same answer
        status, answer = await issue(
            env, session, {"kind": "juminhyo", "scope": "members", "members": [member["member_id"]]}
        )
        assert status == 403 and answer["error"]["refusal"] == {"code": ASK_AT_CITY_HALL, "params": {}}
