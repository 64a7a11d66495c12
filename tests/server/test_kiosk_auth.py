"""Kiosk API: authentication with card and PIN, lock, nonce rules, bad input (in-process server)."""

from __future__ import annotations

import base64
from pathlib import Path

from devices.card.virtual.ca import init_ca
from tests.server.conftest import Env, enrol_kiosk, make_card
from wire.kiosk_api import API_PREFIX


async def error_of(resp) -> tuple[int, str]:  # type: ignore[no-untyped-def]
    body = await resp.json()
    return resp.status, body["error"]["code"]


async def test_card_and_pin_authenticate(env: Env) -> None:
    session = await env.open_session()
    assert len(session["nonce"]) >= 43  # 256 bits in base64url
    resp = await env.authenticate(session)
    assert resp.status == 200, await resp.text()
    menu = await env.kiosk.get(
        f"{API_PREFIX}/sessions/{session['session_id']}/menu", headers=env.kiosk_headers
    )
    items = (await menu.json())["items"]
    assert items[0]["kind"] == "juminhyo" and items[0]["available"] is True


async def test_wrong_pin_counts_down_then_locks_even_the_right_pin(env: Env) -> None:
    tries = []
    for _ in range(3):
        resp = await env.authenticate(await env.open_session(), pin="0000")
        body = await resp.json()
        tries.append((resp.status, body["error"]["code"], body["error"]["tries_left"]))
    assert tries == [(401, "pin_wrong", 2), (401, "pin_wrong", 1), (403, "registration_locked", 0)]
    assert await error_of(await env.authenticate(await env.open_session())) == (403, "registration_locked")
    resp = await env.client.post(
        "/clerk/api/registrations/unlock", json={"atena_no": "0000000101"}, headers=env.clerk_headers
    )
    assert resp.status == 200
    assert (await env.authenticate(await env.open_session())).status == 200


async def test_right_pin_resets_the_failure_count(env: Env) -> None:
    await env.authenticate(await env.open_session(), pin="0000")
    await env.authenticate(await env.open_session(), pin="0000")
    assert (await env.authenticate(await env.open_session())).status == 200
    resp = await env.authenticate(await env.open_session(), pin="0000")
    assert (await resp.json())["error"]["tries_left"] == 2


async def test_unregistered_card_is_refused(env: Env) -> None:
    other = make_card(env.tmp / "card-ca", env.tmp / "cards" / "other.json")
    resp = await env.authenticate(await env.open_session(), card=other)
    assert await error_of(resp) == (403, "card_not_registered")


async def test_card_from_an_untrusted_ca_is_refused(env: Env, tmp_path: Path) -> None:
    rogue_ca = tmp_path / "rogue-ca"
    init_ca(rogue_ca)
    rogue = make_card(rogue_ca, tmp_path / "cards" / "rogue.json")
    resp = await env.authenticate(await env.open_session(), card=rogue)
    assert await error_of(resp) == (401, "card_certificate_untrusted")


async def test_tampered_signature_is_refused(env: Env) -> None:
    session = await env.open_session()
    body = env.auth_body(session)
    sig = bytearray(base64.b64decode(body["signature"]))
    sig[10] ^= 0x01
    body["signature"] = base64.b64encode(bytes(sig)).decode()
    resp = await env.kiosk.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/authenticate", json=body, headers=env.kiosk_headers
    )
    assert await error_of(resp) == (401, "card_signature_invalid")


async def test_signature_for_another_kiosk_is_refused(env: Env) -> None:
    session = await env.open_session()
    body = env.auth_body(session, kiosk_id="kiosk-elsewhere")
    resp = await env.kiosk.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/authenticate", json=body, headers=env.kiosk_headers
    )
    assert await error_of(resp) == (401, "card_signature_invalid")


async def test_nonce_is_single_use(env: Env) -> None:
    session = await env.open_session()
    body = env.auth_body(session, pin="0000")
    url = f"{API_PREFIX}/sessions/{session['session_id']}/authenticate"
    first = await env.kiosk.post(url, json=body, headers=env.kiosk_headers)
    assert first.status == 401
    replay = await env.kiosk.post(url, json=env.auth_body(session), headers=env.kiosk_headers)
    assert await error_of(replay) == (409, "nonce_used")


async def test_expired_nonce_is_refused(env: Env) -> None:
    session = await env.open_session()
    env.later(env.settings.nonce_ttl_s + 1)  # the session is not idle that long
    assert await error_of(await env.authenticate(session)) == (410, "nonce_expired")


async def test_idle_session_expires(env: Env) -> None:
    session = await env.open_session()
    env.later(env.settings.session_idle_s + 1)
    assert await error_of(await env.authenticate(session)) == (410, "session_expired")


async def test_bad_input_gets_stable_4xx_codes(env: Env) -> None:
    session = await env.open_session()
    url = f"{API_PREFIX}/sessions/{session['session_id']}/authenticate"
    h = env.kiosk_headers
    cases = [
        (await env.kiosk.post(url, data=b"{not json", headers=h), (400, "bad_json")),
        (await env.kiosk.post(url, data=b"[1, 2]", headers=h), (400, "bad_json")),
        (await env.kiosk.post(url, json={"nonce": session["nonce"]}, headers=h), (400, "bad_field")),
        (
            await env.kiosk.post(url, json={**env.auth_body(session), "pin": 1234}, headers=h),
            (400, "bad_field"),
        ),
        (
            await env.kiosk.post(url, json={**env.auth_body(session), "pin": "12a4"}, headers=h),
            (400, "bad_field"),
        ),
        (
            await env.kiosk.post(url, json={**env.auth_body(session), "certificate": "%%%"}, headers=h),
            (400, "bad_field"),
        ),
        (await env.kiosk.post(url, data=b"x" * 70_000, headers=h), (413, "body_too_large")),
        (
            await env.kiosk.post(f"{API_PREFIX}/sessions/nope/authenticate", json={}, headers=h),
            (404, "session_unknown"),
        ),
        (
            await env.client.post(f"{API_PREFIX}/sessions", headers={"X-Kiosk-Id": "kiosk-t1"}),
            (401, "kiosk_unauthorized"),
        ),
        (await env.kiosk.get(f"{API_PREFIX}/no/such/path", headers=h), (404, "not_found")),
    ]
    for resp, expected in cases:
        assert await error_of(resp) == expected
    # The bad requests did not spend the nonce's single use on a check, nor lock anything.
    assert (await env.authenticate(session)).status == 200


async def test_another_kiosk_cannot_use_the_session(env: Env) -> None:
    session = await env.open_session()
    other = await enrol_kiosk(
        env.client, env.core.secrets.ops_token, "kiosk-t2", env.tmp / "kiosks", env.core.tls.city_ca_path
    )
    resp = await env.client.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/authenticate",
        json=env.auth_body(session),
        headers={"X-Kiosk-Id": "kiosk-t2"},
        ssl=other,
    )
    assert await error_of(resp) == (404, "session_unknown")


async def test_suspended_registration_is_refused(env: Env) -> None:
    resp = await env.client.post(
        "/clerk/api/registrations/suspend",
        json={"atena_no": "0000000101", "reason": "lost"},
        headers=env.clerk_headers,
    )
    assert resp.status == 200
    assert await error_of(await env.authenticate(await env.open_session())) == (403, "registration_suspended")
