"""Kiosk steps retried after a lost answer, on this node or another (issue 30): the first answer again, nothing
counted, issued or charged twice; an issue claimed by a node that died is taken over."""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

from issuance_server.cluster import store as cluster_store
from issuance_server.payments import ledger
from tests.server.conftest import Env
from tests.server.test_payments import authenticated, issuance_count, pay_and_issue, payment_row, quote, url
from wire.kiosk_api import API_PREFIX


async def claim_as(env: Env, session: dict[str, Any], quote_id: str, owner: str, now: float) -> None:
    """Another node's claim on the quote, as if that node took the payment and began issuing."""
    claimant = ledger.Claimant(owner, now, env.settings.issue_claim_s, lambda tx, o: False)
    await env.core.db.write(
        lambda tx: ledger.start_issue(tx, session["session_id"], quote_id, "dev-9", claimant)
    )


async def test_an_issue_claimed_by_a_node_that_died_is_taken_over_once(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    await claim_as(env, session, q["quote_id"], "dead-incarnation", env.core.sessions.now())
    retried = await pay_and_issue(env, session, q["quote_id"], "dev-9")  # the kiosk's retry, on this node
    assert retried.status == 201, await retried.text()
    again = await pay_and_issue(env, session, q["quote_id"], "dev-9")
    assert (await again.json())["certificates"] == (await retried.json())["certificates"]
    assert await issuance_count(env) == 1
    row = await payment_row(env, q["quote_id"])
    assert row["status"] == "issued" and row["claim_owner"] == env.core.node.incarnation
    # The node that died cannot record an issue of its own afterwards, should it come back mid-write.
    assert not await env.core.db.write(
        lambda tx: ledger.mark_issued(tx, q["quote_id"], "dead-incarnation", {})
    )


async def test_an_issue_claimed_by_a_live_node_waits_until_its_claim_lapses(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    now = env.core.sessions.now()
    await env.core.db.write(
        lambda tx: cluster_store.seen(tx, "node-b", "live-incarnation", now, time.time(), False, None, 19)
    )
    await claim_as(env, session, q["quote_id"], "live-incarnation", now)
    busy = await pay_and_issue(env, session, q["quote_id"], "dev-9")
    assert busy.status == 409 and (await busy.json())["error"]["code"] == "issue_in_progress"
    env.later(env.settings.issue_claim_s + 1)  # node-b is stuck: its claim lapses
    taken = await pay_and_issue(env, session, q["quote_id"], "dev-9")
    assert taken.status == 201, await taken.text()
    assert await issuance_count(env) == 1


async def test_a_repeated_authenticate_is_answered_again_without_counting_a_pin(env: Env) -> None:
    session = await env.open_session()
    body = env.auth_body(session)
    path = f"{API_PREFIX}/sessions/{session['session_id']}/authenticate"
    first = await env.kiosk.post(path, json=body, headers=env.kiosk_headers)
    again = await env.kiosk.post(path, json=body, headers=env.kiosk_headers)
    assert first.status == again.status == 200, await again.text()
    assert await first.json() == await again.json()
    counted = await env.core.db.fetchone("SELECT count(*) AS n FROM audit_log WHERE action = 'authenticate'")
    assert counted is not None and counted["n"] == 1
    other = env.auth_body(session, pin="0000")  # another request on the signed-in session
    other["signature"] = other["signature"][:-4] + "AAA="
    refused = await env.kiosk.post(path, json=other, headers=env.kiosk_headers)
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "session_state"


async def test_an_authenticate_whose_node_died_after_spending_the_nonce_goes_on_when_repeated(
    env: Env,
) -> None:
    session = await env.open_session()
    body = env.auth_body(session)
    digest = hashlib.sha256(body["nonce"].encode() + b"\0" + base64.b64decode(body["signature"])).hexdigest()
    await env.core.sessions.get(session["session_id"], "kiosk-t1", spend_nonce=digest)  # then that node died
    path = f"{API_PREFIX}/sessions/{session['session_id']}/authenticate"
    retried = await env.kiosk.post(path, json=body, headers=env.kiosk_headers)
    assert retried.status == 200, await retried.text()
    other = await env.open_session()
    refused = await env.kiosk.post(
        f"{API_PREFIX}/sessions/{other['session_id']}/authenticate", json=env.auth_body(other, pin="0000"),
        headers=env.kiosk_headers,
    )  # fmt: skip
    assert refused.status == 401
    again = await env.kiosk.post(
        f"{API_PREFIX}/sessions/{other['session_id']}/authenticate", json=env.auth_body(other, pin="0000"),
        headers=env.kiosk_headers,
    )  # fmt: skip
    assert again.status == 409 and (await again.json())["error"]["code"] == "nonce_used"  # counted once


async def test_a_repeated_print_report_changes_nothing(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    serial = (await (await pay_and_issue(env, session, q["quote_id"], "dev-1")).json())["certificates"][0][
        "serial"
    ]
    path = url(session, f"/certificates/{serial}/print-report")
    answers = [
        await (await env.kiosk.post(path, json={"printed": False}, headers=env.kiosk_headers)).json()
        for _ in range(2)
    ]
    assert answers[0] == answers[1] and answers[0]["status"] == "voided"
    assert (await payment_row(env, q["quote_id"]))["refunded_yen"] == q["fee_yen"]  # refunded once
    printed = await env.kiosk.post(path, json={"printed": True}, headers=env.kiosk_headers)
    assert printed.status == 409  # a different report on a voided certificate is still refused


async def test_a_repeated_end_gives_the_same_settlement(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    assert (await pay_and_issue(env, session, q["quote_id"], "dev-3")).status == 201
    first = await (await env.kiosk.delete(url(session, ""), headers=env.kiosk_headers)).json()
    again = await env.kiosk.delete(url(session, ""), headers=env.kiosk_headers)
    assert again.status == 200 and (await again.json())["payments"] == first["payments"]
    ends = await env.core.db.fetchone("SELECT count(*) AS n FROM audit_log WHERE action = 'session_end'")
    assert ends is not None and ends["n"] == 1
    other = env.kiosk_headers | {"X-Kiosk-Id": "kiosk-other"}
    stranger = await env.kiosk.delete(url(session, ""), headers=other)
    assert stranger.status in (401, 403, 404)


async def test_an_opening_and_a_quote_tried_again_with_their_request_id_make_nothing_new(env: Env) -> None:
    first_try = env.kiosk_headers | {"X-Request-Id": "open-1"}
    opened = [await env.open_session(headers=first_try) for _ in range(2)]
    assert opened[0]["session_id"] == opened[1]["session_id"] and opened[0]["nonce"] == opened[1]["nonce"]
    assert (await env.open_session())["session_id"] != opened[0]["session_id"]  # another step: a new one
    session = opened[0]
    assert (await env.authenticate(session)).status == 200
    path = url(session, "/quotes")
    tries = [
        await (
            await env.kiosk.post(
                path, json={"kind": "juminhyo"}, headers=env.kiosk_headers | {"X-Request-Id": "q-1"}
            )
        ).json()
        for _ in range(2)
    ]
    assert tries[0]["quote_id"] == tries[1]["quote_id"]
    quotes = await env.core.db.fetchone("SELECT count(*) AS n FROM kiosk_payments")
    assert quotes is not None and quotes["n"] == 1
    bad = await env.kiosk.post(
        path, json={"kind": "juminhyo"}, headers=env.kiosk_headers | {"X-Request-Id": "a b"}
    )
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "X-Request-Id"
