"""Payment in the kiosk protocol: quote, pay, issue a paid quote once, refunds recorded against it."""

from __future__ import annotations

from typing import Any

from tests.server.conftest import Env, city, load_replica
from wire.kiosk_api import API_PREFIX


async def authenticated(env: Env) -> dict[str, Any]:
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    return session


def url(session: dict[str, Any], tail: str) -> str:
    return f"{API_PREFIX}/sessions/{session['session_id']}{tail}"


async def quote(env: Env, session: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    resp = await env.kiosk.post(url(session, "/quotes"), json=body, headers=env.kiosk_headers)
    assert resp.status == 201, await resp.text()
    return dict(await resp.json())


async def pay_and_issue(env: Env, session: dict[str, Any], quote_id: str, reference: str) -> Any:
    return await env.kiosk.post(
        url(session, "/certificates"),
        json={"quote_id": quote_id, "payment_reference": reference},
        headers=env.kiosk_headers,
    )


async def issuance_count(env: Env) -> int:
    row = await env.core.db.fetchone("SELECT count(*) AS n FROM issuances")
    assert row is not None
    return int(row["n"])


async def payment_row(env: Env, quote_id: str) -> Any:
    return await env.core.db.fetchone("SELECT * FROM kiosk_payments WHERE quote_id = ?", (quote_id,))


async def test_a_quote_prices_without_issuing(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo", "copies": 3})
    assert q["total_yen"] == 3 * env.settings.kiosk_fees_yen["juminhyo"] and q["copies"] == 3
    assert await issuance_count(env) == 0
    assert (await payment_row(env, q["quote_id"]))["status"] == "quoted"


async def test_a_retried_issue_neither_issues_nor_charges_twice(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo", "copies": 2})
    first = await pay_and_issue(env, session, q["quote_id"], "dev-0001")
    assert first.status == 201
    again = await pay_and_issue(env, session, q["quote_id"], "dev-0001")  # the first answer was lost
    assert again.status == 201
    a, b = await first.json(), await again.json()
    assert a["certificates"] == b["certificates"] and len(a["certificates"]) == 2
    assert await issuance_count(env) == 2
    other = await pay_and_issue(env, session, q["quote_id"], "dev-0002")
    assert other.status == 409 and (await other.json())["error"]["code"] == "payment_mismatch"
    row = await payment_row(env, q["quote_id"])
    assert row["status"] == "issued" and row["payment_reference"] == "dev-0001"


async def test_a_quote_of_another_session_is_unknown(env: Env) -> None:
    first = await authenticated(env)
    q = await quote(env, first, {"kind": "juminhyo"})
    second = await authenticated(env)
    resp = await pay_and_issue(env, second, q["quote_id"], "dev-1")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "quote_unknown"


async def test_a_refusal_after_payment_records_the_refund(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "inkan"})
    # Between quote and issue the seal is cancelled upstream.
    records = city()
    for rec in records:
        if rec["t"] == "seal" and rec["owner_atena_no"] == "0000000101":
            rec["status"] = "cancelled"
    await load_replica(env.core, records, seq=2)
    resp = await pay_and_issue(env, session, q["quote_id"], "dev-9")
    body = await resp.json()
    assert resp.status == 403 and body["error"]["refusal"]["code"] == "seal_cancelled"
    assert body["error"]["payment"]["refunded_yen"] == q["total_yen"] == body["error"]["payment"]["paid_yen"]
    row = await payment_row(env, q["quote_id"])
    assert row["status"] == "refunded" and row["refunded_yen"] == q["total_yen"]
    assert await issuance_count(env) == 0


async def test_a_failed_print_refunds_its_copy_against_the_payment(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo", "copies": 2})
    issued = await (await pay_and_issue(env, session, q["quote_id"], "dev-2")).json()
    first, second = (c["serial"] for c in issued["certificates"])
    ok = await env.kiosk.post(url(session, f"/certificates/{first}/print-report"), json={"printed": True},
                               headers=env.kiosk_headers)  # fmt: skip
    assert (await ok.json())["payment"]["refunded_yen"] == 0
    jam = await env.kiosk.post(url(session, f"/certificates/{second}/print-report"), json={"printed": False},
                                headers=env.kiosk_headers)  # fmt: skip
    assert (await jam.json())["payment"]["refunded_yen"] == q["fee_yen"]
    end = await env.kiosk.delete(url(session, ""), headers=env.kiosk_headers)
    assert (await end.json())["payments"] == [
        {"quote_id": q["quote_id"], "payment_reference": "dev-2", "paid_yen": q["total_yen"],
         "refunded_yen": q["fee_yen"]}
    ]  # fmt: skip


async def test_ending_a_session_refunds_what_was_paid_and_not_printed(env: Env) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    assert (await pay_and_issue(env, session, q["quote_id"], "dev-3")).status == 201
    end = await (await env.kiosk.delete(url(session, ""), headers=env.kiosk_headers)).json()
    assert end["payments"][0]["refunded_yen"] == q["total_yen"]
    row = await env.core.db.fetchone("SELECT status, refund_yen FROM issuances")
    assert row is not None
    assert row["status"] == "voided" and row["refund_yen"] == q["total_yen"]
    assert (await payment_row(env, q["quote_id"]))["refunded_yen"] == q["total_yen"]  # recorded once


async def test_an_unquoted_issue_is_refused(env: Env) -> None:
    session = await authenticated(env)
    resp = await env.kiosk.post(
        url(session, "/certificates"), json={"kind": "juminhyo"}, headers=env.kiosk_headers
    )
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "quote_id"
    resp = await pay_and_issue(env, session, "made-up", "dev-1")
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "quote_unknown"


async def test_a_paid_quote_left_by_a_vanished_kiosk_is_refunded(env: Env) -> None:
    from issuance_server.payments.ledger import Claimant, refund_abandoned, start_issue

    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    db = env.core.db
    await db.write(
        lambda tx: start_issue(
            tx,
            session["session_id"],
            q["quote_id"],
            "dev-lost",
            Claimant("gone", env.core.sessions.now(), 30.0, lambda tx, owner: False),
        )
    )  # then the kiosk died
    assert await db.write(lambda tx: refund_abandoned(tx, before="2000-01-01T00:00:00Z")) == 0
    live = frozenset({session["session_id"]})  # its kiosk may still issue it, whatever the wall clock says
    assert await db.write(lambda tx: refund_abandoned(tx, "2100-01-01T00:00:00Z", keep_sessions=live)) == 0
    assert await db.write(lambda tx: refund_abandoned(tx, before="2100-01-01T00:00:00Z")) == 1
    row = await payment_row(env, q["quote_id"])
    assert row["status"] == "refunded" and row["refunded_yen"] == q["total_yen"]
