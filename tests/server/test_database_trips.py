"""A kiosk step is one transaction function (plus the kiosk's own check): trips to the database's
threads cost more CPU than the statements in them, so each step's trips are counted and bounded."""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from typing import Any

import aiosqlite
import pytest

from tests.server.conftest import Env
from wire.kiosk_api import API_PREFIX

# The kiosk's certificate is checked against its enrolment at the session's first request (one read)
# and then remembered (enrolment.kiosks.EnrolledKiosks). Sessions live in the database (issue 30): each step
# reads its session in its own first transaction (its last sight written only when 15 s old, which these
# quick steps are not). Per step: open: the session made with its audit row; authenticate: the session read
# with its nonce spent, the attempt counted, then settled with its audit row; menu: the session, holder and
# their facts in one read; quote: that read, then the quote with its audit row; issue: the quote claimed, the
# facts read, the serial numbered, the issuance recorded; PDF, print report and end: one write each.
BACKGROUND = frozenset({"cluster-follower", "registry-link", "audit-checkpoints", "sweep-unprinted"})
TRIPS = {
    "open": 2,
    "authenticate": 3,
    "menu": 1,
    "quote": 2,
    "issue": 4,
    "pdf": 1,
    "print_report": 1,
    "end": 1,
}


async def test_each_kiosk_step_takes_its_few_trips_to_the_database(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    trips: collections.Counter[str] = collections.Counter()
    step = ["before"]
    hop = aiosqlite.Connection._execute  # how aiosqlite hands a call to its connection's thread

    async def counted(self: aiosqlite.Connection, fn: Callable[[], Any]) -> Any:
        task = asyncio.current_task()
        if task is None or task.get_name() not in BACKGROUND:  # the step's, not a background loop's
            trips[step[0]] += 1
        return await hop(self, fn)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    env.core.enrolled_kiosks.forget()  # the first request reads the enrolment: a slow step does not
    monkeypatch.setattr(env.core.enrolled_kiosks, "_clock", lambda: 0.0)  # make a later one read again

    async def run(name: str, call: Callable[[], Awaitable[Any]], status: int) -> Any:
        step[0] = name
        resp = await call()
        assert resp.status == status, await resp.text()
        return await resp.json() if resp.content_type == "application/json" else None

    h = env.kiosk_headers
    session = await run("open", lambda: env.kiosk.post(f"{API_PREFIX}/sessions", headers=h), 201)
    base = f"{API_PREFIX}/sessions/{session['session_id']}"
    await run("authenticate", lambda: env.authenticate(session), 200)
    await run("menu", lambda: env.kiosk.get(f"{base}/menu", headers=h), 200)
    quote = await run(
        "quote", lambda: env.kiosk.post(f"{base}/quotes", json={"kind": "juminhyo"}, headers=h), 201
    )
    paid = {"quote_id": quote["quote_id"], "payment_reference": "pay-1"}
    issued = await run("issue", lambda: env.kiosk.post(f"{base}/certificates", json=paid, headers=h), 201)
    serial = issued["certificates"][0]["serial"]
    await run("pdf", lambda: env.kiosk.get(f"{base}/certificates/{serial}/pdf", headers=h), 200)
    report = f"{base}/certificates/{serial}/print-report"
    await run("print_report", lambda: env.kiosk.post(report, json={"printed": True}, headers=h), 200)
    await run("end", lambda: env.kiosk.delete(base, headers=h), 200)
    over = {name: (trips[name], most) for name, most in TRIPS.items() if trips[name] > most}
    assert not over, f"steps over their trips to the database (taken, budget): {over}"
