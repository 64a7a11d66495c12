"""A kiosk's print guard reports a PDF it would not print: the certificate is voided and refunded once, and
an alarm row goes to the audit trail, which the month's review lists."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import pytest

from issuance_server.audit.review import ReviewRules, review
from tests.server.conftest import Env
from tests.server.test_payments import authenticated, pay_and_issue, payment_row, quote, url
from wire.clock import JST


async def issued_serial(env: Env, reference: str) -> tuple[dict[str, Any], str, dict[str, Any]]:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    issued = await (await pay_and_issue(env, session, q["quote_id"], reference)).json()
    return session, issued["certificates"][0]["serial"], q


async def report(env: Env, session: dict[str, Any], serial: str, body: dict[str, Any]) -> Any:
    return await env.kiosk.post(
        url(session, f"/certificates/{serial}/print-report"), json=body, headers=env.kiosk_headers
    )


async def audit_rows(env: Env, action: str) -> list[Any]:
    return await env.core.db.fetchall("SELECT * FROM audit_log WHERE action = ? ORDER BY seq", (action,))


async def test_a_guard_report_voids_refunds_once_and_raises_an_alarm_the_review_lists(env: Env) -> None:
    session, serial, q = await issued_serial(env, "dev-guard")
    body = {"printed": False, "guard": {"finding": "wrong_requester", "sheet": 2}}
    first = await report(env, session, serial, body)
    assert first.status == 200, await first.text()
    answer = await first.json()
    assert answer["status"] == "voided" and answer["payment"]["refunded_yen"] == q["total_yen"]
    again = await report(env, session, serial, body)  # its answer was lost: the same answer, nothing more
    assert await again.json() == answer
    assert (await payment_row(env, q["quote_id"]))["refunded_yen"] == q["total_yen"]
    [alarm] = await audit_rows(env, "print_guard")
    assert alarm["result"] == "alarm" and alarm["actor_kind"] == "kiosk"
    assert {"serial": serial, "finding": "wrong_requester", "sheet": 2}.items() <= json.loads(
        alarm["details"]
    ).items()
    [voided] = await audit_rows(env, "print_report")
    assert json.loads(voided["details"])["guard"] == "wrong_requester"
    at = datetime.fromisoformat(alarm["at"].replace("Z", "+00:00"))
    month = at.astimezone(JST).strftime("%Y-%m")  # the alarm's month (not the clock's: a test may cross one)
    rules = ReviewRules.from_settings(env.settings)
    figures = review([dict(r) for r in await env.core.db.fetchall("SELECT * FROM audit_log")], month, rules)
    assert figures["print_guard"]["total"] == 1
    [listed] = [a for a in figures["anomalies"] if a["rule"] == "print_guard"]
    assert (
        listed["seqs"] == [alarm["seq"]] and serial in listed["what"] and "wrong_requester" in listed["what"]
    )


@pytest.mark.parametrize(
    "body",
    [
        {"printed": True, "guard": {"finding": "wrong_serial"}},  # printed and stopped: one of them is false
        {"printed": False, "guard": {"finding": "looked_odd"}},
        {"printed": False, "guard": {"finding": "wrong_serial", "sheet": 256}},
        {"printed": False, "guard": {"finding": "wrong_serial", "sheet": True}},
        {"printed": False, "guard": "wrong_serial"},
    ],
    ids=["printed_and_stopped", "unknown_finding", "sheet_too_large", "sheet_not_a_number", "not_an_object"],
)
async def test_a_malformed_guard_report_is_refused_and_changes_nothing(
    env: Env, body: dict[str, Any]
) -> None:
    session, serial, q = await issued_serial(env, "dev-bad-guard")
    resp = await report(env, session, serial, body)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_field"
    assert (await payment_row(env, q["quote_id"]))["refunded_yen"] == 0
    assert await audit_rows(env, "print_guard") == []
