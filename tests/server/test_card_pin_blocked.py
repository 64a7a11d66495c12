"""A card whose own PIN is blocked reaches the city: the kiosk's report locks the card's registration (with
why), the audit trail holds it as the kiosk's, the month's review counts it as a PIN lock, and the desk's
unlock (or a new registration after J-LIS's PIN reset) makes the card usable again."""

from __future__ import annotations

import base64
from datetime import datetime
from typing import Any

from issuance_server.audit.review import ReviewRules, review
from tests.server.conftest import Env, make_card
from wire.clock import JST
from wire.kiosk_api import API_PREFIX


async def report_blocked(env: Env, session: dict[str, Any], cert_der: bytes) -> Any:
    return await env.kiosk.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/card-blocked",
        json={"certificate": base64.b64encode(cert_der).decode()},
        headers=env.kiosk_headers,
    )


async def registrations(env: Env) -> list[dict[str, Any]]:
    resp = await env.client.get(
        "/clerk/api/registrations", params={"atena_no": "0000000101"}, headers=env.clerk_headers
    )
    return list((await resp.json())["registrations"])


async def test_a_blocked_card_locks_its_registration_until_the_desk_unlocks_it(env: Env) -> None:
    session = await env.open_session()
    resp = await report_blocked(env, session, env.card.cert_der)
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["result"] == "locked"
    again = await report_blocked(env, session, env.card.cert_der)  # its answer lost: the same answer
    assert (await again.json())["result"] == "already_locked"
    [reg] = await registrations(env)
    assert (reg["status"], reg["lock_reason"]) == ("locked", "card_pin_blocked")
    other = make_card(env.tmp / "card-ca", env.tmp / "cards" / "other-blocked.json")
    refused = await report_blocked(env, session, other.cert_der)  # one claim a session
    assert refused.status == 409 and (await refused.json())["error"]["code"] == "session_state"
    rows = await env.core.db.fetchall(
        "SELECT * FROM audit_log WHERE action = 'card_pin_blocked' ORDER BY seq"
    )
    assert [(r["result"], r["actor_kind"], r["subject"]) for r in rows] == [
        ("locked", "kiosk", "0000000101"),
        ("already_locked", "kiosk", "0000000101"),
        ("session_state", "kiosk", None),
    ]
    at = datetime.fromisoformat(rows[0]["at"].replace("Z", "+00:00"))
    month = at.astimezone(JST).strftime("%Y-%m")
    everything = [dict(r) for r in await env.core.db.fetchall("SELECT * FROM audit_log")]
    figures = review(everything, month, ReviewRules.from_settings(env.settings))
    seqs = figures["pin_locks"]["seqs"]
    assert rows[0]["seq"] in seqs and rows[1]["seq"] not in seqs
    unlocked = await env.client.post(
        "/clerk/api/registrations/unlock", json={"atena_no": "0000000101"}, headers=env.clerk_headers
    )
    assert unlocked.status == 200
    [reg] = await registrations(env)
    assert (reg["status"], reg["lock_reason"]) == ("active", None)


async def test_a_card_that_signs_in_again_lifts_the_lock_reported_for_its_pin(env: Env) -> None:
    await report_blocked(env, await env.open_session(), env.card.cert_der)
    assert (await registrations(env))[0]["status"] == "locked"
    assert (await env.authenticate(await env.open_session())).status == 200  # signed: not blocked after all
    [reg] = await registrations(env)
    assert (reg["status"], reg["lock_reason"]) == ("active", None)


async def test_a_session_that_signed_in_cannot_report_its_card_blocked(env: Env) -> None:
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    resp = await report_blocked(env, session, env.card.cert_der)
    assert resp.status == 409 and (await registrations(env))[0]["status"] == "active"


async def test_a_report_for_an_unregistered_card_locks_nothing(env: Env) -> None:
    stranger = make_card(env.tmp / "card-ca", env.tmp / "cards" / "stranger.json")
    resp = await report_blocked(env, await env.open_session(), stranger.cert_der)
    answer = await resp.json()
    assert (answer["result"], answer["locked"]) == ("card_not_registered", False)
    [reg] = await registrations(env)
    assert reg["status"] == "active"


async def test_a_report_that_is_not_a_card_certificate_is_refused(env: Env) -> None:
    resp = await report_blocked(env, await env.open_session(), b"not a certificate")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "card_certificate_invalid"
