"""Recovery mode in the server: switching by hand, read-only resident data, counter work, data-as-of,
maximum replica age, maintenance, reconciliation (in-process; tests/e2e drive the breaker for real)."""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
from typing import Any

from issuance_server.certificates.pades import validate_pdf
from tests.server.conftest import Env, city, load_replica, make_card
from wire.kiosk_api import API_PREFIX


async def set_mode(env: Env, mode: str, reason: str = "test") -> dict[str, Any]:
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    resp = await env.client.post("/ops/api/mode", json={"mode": mode, "reason": reason}, headers=ops)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


async def kiosk_issue(
    env: Env, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any], dict[str, Any]]:
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    resp = await env.buy(session, body or {"kind": "juminhyo"})
    return resp.status, await resp.json(), session


async def test_manual_recovery_is_audited_shown_and_stays(env: Env) -> None:
    result = await set_mode(env, "recovery", "main registry maintenance window")
    assert result["mode"]["mode"] == "recovery" and result["mode"]["manual"] is True
    assert (await (await env.client.get("/healthz")).json())["mode"] == "recovery"
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    status = await (await env.client.get("/ops/api/status", headers=ops)).json()
    assert status["mode"]["reason"] == "main registry maintenance window"  # to ops only
    metrics = await (await env.client.get("/metrics")).text()
    assert 'konbini_mode{mode="recovery"} 1.0' in metrics and "konbini_mode_manual 1.0" in metrics
    rows = await env.core.db.fetchall("SELECT * FROM audit_log WHERE action = 'mode_switch'")
    assert rows and "recovery" in rows[-1]["details"]
    released = await set_mode(env, "normal", "")
    assert released["mode"] == {**released["mode"], "mode": "normal", "manual": False}


async def test_public_healthz_shows_coarse_state_without_reasons_or_errors(env: Env) -> None:
    await set_mode(env, "recovery", "ops note: call Tanaka on 090-0000-0000")
    await env.core.db.execute("UPDATE sync_state SET last_error = 'snapshot failed at line 7: bad row'")
    env.core.link_status = lambda: {"replica_seq": 7, "last_error": "registry.city.example refused"}
    resp = await env.client.get("/healthz")
    text = await resp.text()
    assert resp.status == 200 and "Tanaka" not in text and "bad row" not in text and "refused" not in text
    health = await resp.json()
    assert health == {
        "status": "ok",
        "mode": "recovery",
        "replica": {"loaded": True, "as_of": health["replica"]["as_of"]},
    }


async def test_a_reason_is_required_to_switch_by_hand(env: Env) -> None:
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    resp = await env.client.post("/ops/api/mode", json={"mode": "recovery"}, headers=ops)
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_field"


async def test_recovery_keeps_kiosks_issuing_with_data_as_of(env: Env) -> None:
    await set_mode(env, "recovery")
    status, body, session = await kiosk_issue(env)
    assert status == 201, body
    serial = body["certificates"][0]["serial"]
    row = await env.core.db.fetchone("SELECT mode, data_as_of FROM issuances WHERE serial = ?", (serial,))
    assert row is not None
    assert row["mode"] == "recovery" and row["data_as_of"]
    pdf = await (
        await env.kiosk.get(
            f"{API_PREFIX}/sessions/{session['session_id']}/certificates/{serial}/pdf",
            headers=env.kiosk_headers,
        )
    ).read()
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "時点" in text  # "made from the resident records as of ..."


async def test_recovery_refuses_once_the_replica_is_too_old(env: Env) -> None:
    await set_mode(env, "recovery")
    env.core.settings = dataclasses.replace(env.core.settings, recovery_max_replica_age_s=0)
    status, body, session = await kiosk_issue(env)
    assert status == 403 and body["error"]["refusal"]["code"] == "replica_too_old"
    # The menu tells the same truth: nothing is offered that the issue step would refuse.
    resp = await env.kiosk.get(
        f"{API_PREFIX}/sessions/{session['session_id']}/menu", headers=env.kiosk_headers
    )
    items = (await resp.json())["items"]
    assert not any(i["available"] for i in items)
    assert {i["refusal"]["code"] for i in items} == {"replica_too_old"}


async def test_recovery_refuses_registrations_but_keeps_security_state(env: Env) -> None:
    await set_mode(env, "recovery")
    card = make_card(env.tmp / "card-ca", env.tmp / "cards" / "new.json")
    resp = await env.register("0000000111", card)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "read_only_mode"
    session = await env.open_session()
    resp = await env.authenticate(session, pin="0000")
    assert (await resp.json())["error"]["tries_left"] == 2  # failure counters are still written


async def test_maintenance_closes_kiosks(env: Env) -> None:
    await set_mode(env, "maintenance", "server upgrade")
    assert (await env.open_session())["service"] == "closed"
    status, body, _ = await kiosk_issue(env)
    assert status == 403 and body["error"]["refusal"]["code"] == "maintenance"


async def test_counter_search_masks_kojin_bango_and_issues_only_in_recovery(env: Env) -> None:
    resp = await env.client.get("/clerk/api/residents?kana=よしだ　はな", headers=env.clerk_headers)
    found = (await resp.json())["residents"]
    assert [r["atena_no"] for r in found] == ["0000000102"]
    assert found[0]["kojin_bango"].startswith("********")  # the clerk lacks the mynumber role
    resp = await env.client.get("/clerk/api/residents", headers=env.clerk_headers)
    assert resp.status == 400
    body = {"atena_no": "0000000102", "kind": "juminhyo"}  # a child: fine at the counter, not at a kiosk
    resp = await env.client.post("/clerk/api/counter/certificates", json=body, headers=env.clerk_headers)
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "counter_issuance_recovery_only"
    await set_mode(env, "recovery")
    resp = await env.client.post("/clerk/api/counter/certificates", json=body, headers=env.clerk_headers)
    assert resp.status == 201, await resp.text()
    cert = (await resp.json())["certificates"][0]
    assert cert["fee_yen"] == env.settings.counter_fees_yen["juminhyo"]
    pdf = await env.client.get(
        f"/clerk/api/counter/certificates/{cert['serial']}/pdf", headers=env.clerk_headers
    )
    document = await pdf.read()
    assert pdf.status == 200 and document.startswith(b"%PDF")
    # A counter certificate is a document handed out: it carries a PAdES signature of the city.
    trust = env.settings.data_dir / "keys" / "city-issuing.crt"
    assert (await asyncio.to_thread(validate_pdf, document, trust)).valid  # pyHanko runs its own event loop


async def test_reconcile_lists_recovery_certificates_whose_records_changed(env: Env) -> None:
    await set_mode(env, "recovery")
    status, body, _ = await kiosk_issue(env)
    assert status == 201
    serial = body["certificates"][0]["serial"]
    records = city()
    for rec in records:
        if rec.get("atena_no") == "0000000101":
            rec.update(address="鹿児島市東千石町1番1号", version=2)
    await load_replica(env.core, records, seq=2)
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    items = (await (await env.client.get("/ops/api/reconcile", headers=ops)).json())["items"]
    assert [i["serial"] for i in items] == [serial]
    assert items[0]["changes"][0]["record"] == "resident/0000000101"
    assert items[0]["changes"][0]["fields"] == ["address"]


async def test_releasing_when_nothing_is_held_by_hand_changes_nothing(env: Env) -> None:
    env.core.freshness = object()  # type: ignore[assignment]  # as if the registry link were followed
    body = await set_mode(env, "normal")
    assert body["changed"] is False and body["mode"]["mode"] == "normal"
    rows = await env.core.db.fetchall("SELECT * FROM audit_log WHERE action = 'mode_switch'")
    assert rows == []  # no detour through recovery


async def test_every_answer_is_uncached_unsniffed_and_unbannered(env: Env) -> None:
    for path in ("/healthz", "/verify", "/no-such-page", f"{API_PREFIX}/sessions"):
        resp = await env.client.get(path)
        assert resp.headers["Cache-Control"] == "no-store", path
        assert resp.headers["X-Content-Type-Options"] == "nosniff", path
        assert resp.headers["Server"] == "konbini", path


async def test_the_consistency_check_does_not_touch_a_replica_held_in_recovery(env: Env) -> None:
    await set_mode(env, "recovery", "main registry maintenance")
    seq_before = await env.core.db.fetchone("SELECT * FROM sync_state WHERE id = 1")
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    resp = await env.client.post("/ops/api/consistency", json={"repair": True}, headers=ops)
    error = (await resp.json())["error"]
    assert resp.status == 409 and error["code"] == "read_only_mode" and "mode normal" in error["message"]
    assert await env.core.db.fetchone("SELECT * FROM sync_state WHERE id = 1") == seq_before
