"""Phones as a resident's second credential (issue 34): linking at the desk and at a kiosk, the PIN policy per
form, wrong PINs counted per resident, each credential suspended or revoked alone, a new card revoking the
phones of the old one, and issuance counted by form in the monthly review."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import ClientResponse
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card.virtual.ca import init_ca, issue_card
from issuance_server.audit.review import figures_of
from issuance_server.settings import SettingsError, load_settings
from tests.server.conftest import PHONE_PIN, PIN, Env, TestCard, load_card, make_card
from wire.clock import jst_now
from wire.credentials import Form, PinPolicy
from wire.kiosk_api import API_PREFIX, link_digest

RESIDENT = "0000000101"


async def registrations(env: Env, atena_no: str = RESIDENT) -> list[dict[str, Any]]:
    resp = await env.client.get(f"/clerk/api/registrations?atena_no={atena_no}", headers=env.clerk_headers)
    assert resp.status == 200, await resp.text()
    return list((await resp.json())["registrations"])


def by_form(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["form"]: r for r in rows if r["status"] != "revoked"} | {
        f"{r['form']}-revoked": r for r in rows if r["status"] == "revoked"
    }


async def linked(env: Env, form: str) -> tuple[TestCard, int]:
    """The test phone of ``form`` linked at the desk; the phone and its registration's number."""
    phone = env.phone(form)
    assert (await env.link_phone(RESIDENT, phone)).status == 201
    return phone, by_form(await registrations(env))[form]["registration_id"]


async def clerk_action(env: Env, action: str, registration_id: int, **more: str) -> ClientResponse:
    """A clerk's status action (suspend, revoke, ...) on one credential of the resident."""
    return await env.client.post(
        f"/clerk/api/registrations/{action}",
        json={"atena_no": RESIDENT, "registration_id": registration_id, **more},
        headers=env.clerk_headers,
    )


async def signed_in(env: Env, credential: TestCard, pin: str | None) -> tuple[int, dict[str, Any]]:
    resp = await env.authenticate(await env.open_session(), card=credential, pin=pin)
    return resp.status, dict(await resp.json())


async def test_an_android_phone_linked_at_the_desk_signs_in_with_its_own_pin(env: Env) -> None:
    android = env.phone("android")
    resp = await env.link_phone(RESIDENT, android)
    assert resp.status == 201, await resp.text()
    linked = await resp.json()
    assert linked["form"] == "android" and linked["status"] == "active"
    rows = by_form(await registrations(env))
    assert rows["android"]["cert_serial"] == linked["cert_serial"]
    assert rows["android"]["linked_card"] == rows["card"]["registration_id"]
    status, body = await signed_in(env, android, PHONE_PIN)
    assert (status, body["form"]) == (200, "android")
    status, body = await signed_in(env, android, PIN)  # the card's PIN is not the phone's
    assert (status, body["error"]["code"]) == (401, "pin_wrong")


async def test_an_iphone_signs_in_without_a_pin_unless_the_city_requires_it(env: Env) -> None:
    iphone = env.phone("iphone")
    assert (await env.link_phone(RESIDENT, iphone)).status == 201
    session = await env.open_session()
    assert {p["form"]: p["pin"] for p in session["phones"]} == {"android": "required", "iphone": "on_device"}
    status, body = await signed_in(env, iphone, None)
    assert (status, body["form"]) == (200, "iphone")
    audited = await env.core.db.fetchone(
        "SELECT details FROM audit_log WHERE action = 'authenticate' AND result = 'ok' ORDER BY seq DESC"
    )
    assert audited is not None and '"on_device"' in audited["details"] and '"iphone"' in audited["details"]

    env.core.credentials.pin[Form.IPHONE] = PinPolicy.REQUIRED  # the city asks the registered PIN
    assert {p["form"]: p["pin"] for p in (await env.open_session())["phones"]}["iphone"] == "required"
    status, body = await signed_in(env, iphone, None)
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "bad_field", "pin")
    status, _ = await signed_in(env, iphone, PHONE_PIN)
    assert status == 200


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own: one engine
async def test_a_card_without_a_pin_is_refused(env: Env) -> None:
    status, body = await signed_in(env, env.card, None)
    assert (status, body["error"]["field"]) == (400, "pin")


async def test_wrong_pins_count_per_resident_across_card_and_phone(env: Env) -> None:
    android = env.phone("android")
    assert (await env.link_phone(RESIDENT, android)).status == 201
    assert (await signed_in(env, env.card, "0000"))[1]["error"]["tries_left"] == 2
    assert (await signed_in(env, android, "0000"))[1]["error"]["tries_left"] == 1
    status, body = await signed_in(env, env.card, "0000")
    assert (status, body["error"]["code"]) == (403, "registration_locked")
    rows = by_form(await registrations(env))
    assert {f: (r["status"], r["lock_reason"]) for f, r in rows.items()} == {
        "card": ("locked", "pin_failures"),
        "android": ("locked", "pin_failures"),
    }
    assert (await signed_in(env, android, PHONE_PIN))[0] == 403  # the right PIN, too late, on either
    resp = await env.client.post(
        "/clerk/api/registrations/unlock", json={"atena_no": RESIDENT}, headers=env.clerk_headers
    )
    assert (await resp.json())["changed"] == 2
    assert (await signed_in(env, android, PHONE_PIN))[0] == 200
    assert all(r["failures"] == 0 for r in await registrations(env))


async def test_a_right_pin_clears_only_its_own_credentials_wrong_pins(env: Env) -> None:
    """A thief's guesses on the phone stay counted while the owner signs in with the card."""
    iphone = env.phone("iphone")
    env.core.credentials.pin[Form.IPHONE] = PinPolicy.REQUIRED  # guessed at the server only
    assert (await env.link_phone(RESIDENT, iphone)).status == 201
    for _ in range(2):
        await signed_in(env, iphone, "0000")
    assert (await signed_in(env, env.card, PIN))[0] == 200  # the owner, meanwhile
    status, body = await signed_in(env, iphone, "0000")  # the third guess in all locks the resident
    assert (status, body["error"]["code"]) == (403, "registration_locked")
    assert {r["status"] for r in await registrations(env)} == {"locked"}
    rows = by_form(await registrations(env))
    assert (rows["iphone"]["failures"], rows["card"]["failures"]) == (3, 0)


async def test_a_revoked_phone_leaves_the_card_working(env: Env) -> None:
    android, phone_id = await linked(env, "android")
    resp = await clerk_action(env, "revoke", phone_id, reason="lost phone")
    assert (await resp.json())["changed"] == 1
    status, body = await signed_in(env, android, PHONE_PIN)
    assert (status, body["error"]["code"]) == (403, "card_not_registered")
    assert (await signed_in(env, env.card, PIN))[0] == 200


async def test_a_suspended_card_leaves_the_phone_working(env: Env) -> None:
    iphone, _ = await linked(env, "iphone")
    card_id = by_form(await registrations(env))["card"]["registration_id"]
    resp = await clerk_action(env, "suspend", card_id)
    assert (await resp.json())["changed"] == 1
    assert (await signed_in(env, env.card, PIN))[1]["error"]["code"] == "registration_suspended"
    assert (await signed_in(env, iphone, None))[0] == 200


async def test_a_new_card_revokes_the_phones_of_the_old_one(env: Env) -> None:
    android = env.phone("android")
    assert (await env.link_phone(RESIDENT, android)).status == 201
    assert (await env.register(RESIDENT, env.card)).status == 201  # the same card again keeps its phones
    assert by_form(await registrations(env))["android"]["status"] == "active"
    new_card = make_card(env.tmp / "card-ca", env.tmp / "cards" / "c2.json")
    resp = await env.register(RESIDENT, new_card)
    assert (await resp.json())["replaced_registrations"] == 2  # the old card and its phone
    rows = by_form(await registrations(env))
    assert rows["android-revoked"]["form"] == "android" and rows["card"]["status"] == "active"
    assert (await signed_in(env, android, PHONE_PIN))[1]["error"]["code"] == "card_not_registered"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own: one engine
async def test_a_phone_from_an_unknown_smartphone_ca_is_refused(env: Env) -> None:
    init_ca(env.tmp / "rogue-phone-ca", phone=True)
    issue_card(env.tmp / "rogue-phone-ca", env.tmp / "cards" / "rogue.json", pin=PHONE_PIN, form=Form.ANDROID)
    rogue = load_card(env.tmp / "cards" / "rogue.json")
    resp = await env.link_phone(RESIDENT, rogue)
    assert (resp.status, (await resp.json())["error"]["code"]) == (401, "card_certificate_untrusted")
    status, body = await signed_in(env, rogue, PHONE_PIN)
    assert (status, body["error"]["code"]) == (401, "card_certificate_untrusted")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own: one engine
async def test_a_phone_certificate_naming_no_known_form_is_refused(env: Env) -> None:
    env.core.credentials.forms = {Form.ANDROID: "1.2.3.4"}  # a city that set other OIDs
    status, body = await signed_in(env, env.phone("android"), PHONE_PIN)
    assert (status, body["error"]["code"]) == (401, "card_certificate_untrusted")
    assert "form" in body["error"]["message"]


async def test_a_phone_links_to_one_resident_only(env: Env) -> None:
    android = env.phone("android")
    assert (await env.link_phone(RESIDENT, android)).status == 201
    other_card = make_card(env.tmp / "card-ca", env.tmp / "cards" / "c9.json")
    assert (await env.register("0000000109", other_card)).status == 201
    resp = await env.link_phone("0000000109", android, card=other_card)
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "phone_registered_to_other")
    status, _ = await signed_in(env, android, PHONE_PIN)  # still the first resident's
    assert status == 200
    assert by_form(await registrations(env, "0000000109")).keys() == {"card"}


async def test_linking_at_the_desk_checks_the_card_and_its_pin(env: Env) -> None:
    android = env.phone("android")
    resp = await env.link_phone(RESIDENT, android, card_pin="0000")
    body = await resp.json()
    assert (resp.status, body["error"]["code"], body["error"]["tries_left"]) == (401, "pin_wrong", 2)
    resp = await env.link_phone(RESIDENT, android, card=android)  # the phone twice, no card
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "not_a_card")
    resp = await env.link_phone(RESIDENT, env.card, card=env.card)
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "not_a_phone")
    resp = await env.link_phone(RESIDENT, android, phone_pin="12a4")
    assert (resp.status, (await resp.json())["error"]["field"]) == (400, "phone_pin")
    assert by_form(await registrations(env)).keys() == {"card"}


async def link_at_kiosk(env: Env, session: dict[str, Any], phone: TestCard, pin: str = PHONE_PIN) -> Any:
    digest = link_digest("kiosk-t1", session["session_id"])
    signature = phone.key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    body = {
        "certificate": base64.b64encode(phone.cert_der).decode(),
        "signature": base64.b64encode(signature).decode(),
        "pin": pin,
    }
    return await env.kiosk.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/phones", json=body, headers=env.kiosk_headers
    )


async def test_a_resident_links_a_phone_at_a_kiosk_after_signing_in_with_the_card(env: Env) -> None:
    iphone = env.phone("iphone")
    session = await env.open_session()
    assert session["phone_linking"] is True
    resp = await link_at_kiosk(env, session, iphone)
    assert (resp.status, (await resp.json())["error"]["code"]) == (401, "not_authenticated")
    assert (await env.authenticate(session)).status == 200
    other = await env.open_session()  # a signature for another session does not link
    resp = await env.kiosk.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/phones",
        json={**(await link_at_kiosk_body(env, other, iphone))},
        headers=env.kiosk_headers,
    )
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "card_not_present")
    resp = await link_at_kiosk(env, session, iphone)
    assert resp.status == 201, await resp.text()
    assert (await resp.json())["form"] == "iphone"
    phone_session = await env.open_session()
    assert (await env.authenticate(phone_session, card=iphone, pin=None)).status == 200
    resp = await link_at_kiosk(env, phone_session, env.phone("android"))  # signed in with a phone
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "not_a_card")


async def link_at_kiosk_body(env: Env, session: dict[str, Any], phone: TestCard) -> dict[str, str]:
    digest = link_digest("kiosk-t1", session["session_id"])
    signature = phone.key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    return {
        "certificate": base64.b64encode(phone.cert_der).decode(),
        "signature": base64.b64encode(signature).decode(),
        "pin": PHONE_PIN,
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own: one engine
async def test_a_city_may_keep_phone_linking_at_the_desk(env: Env) -> None:
    env.core.settings = env.core.settings.__class__(
        **{**vars(env.core.settings), "kiosk_phone_linking": False}
    )
    session = await env.open_session()
    assert session["phone_linking"] is False
    assert (await env.authenticate(session)).status == 200
    resp = await link_at_kiosk(env, session, env.phone("android"))
    assert (resp.status, (await resp.json())["error"]["code"]) == (403, "phone_linking_off")


async def test_the_monthly_review_counts_kiosk_issuance_by_credential_form(env: Env) -> None:
    iphone = env.phone("iphone")
    assert (await env.link_phone(RESIDENT, iphone)).status == 201
    for credential, pin, reference in ((env.card, PIN, "pay-card"), (iphone, None, "pay-phone")):
        session = await env.open_session()
        assert (await env.authenticate(session, card=credential, pin=pin)).status == 200
        resp = await env.buy(session, {"kind": "inkan", "copies": 1}, reference)
        assert resp.status == 201, await resp.text()
    figures = await figures_of(env.core, f"{jst_now():%Y-%m}")
    assert figures["issuances"]["kiosk_by_form"] == {"card": 1, "iphone": 1}


async def test_a_kiosk_does_not_link_again_a_phone_the_desk_suspended(env: Env) -> None:
    iphone, phone_id = await linked(env, "iphone")
    resp = await clerk_action(env, "suspend", phone_id)
    assert resp.status == 200
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    resp = await link_at_kiosk(env, session, iphone)
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "phone_not_active")
    assert by_form(await registrations(env))["iphone"]["status"] == "suspended"
    assert (await env.link_phone(RESIDENT, iphone)).status == 201  # the clerk may link it again
    assert by_form(await registrations(env))["iphone"]["status"] == "active"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own: one engine
async def test_a_damaged_smartphone_ca_refuses_phones_and_leaves_cards_alone(env: Env) -> None:
    env.core.credentials.phone.ca_cert_path.write_text("not a certificate")
    env.core.credentials.phone._ca = None  # as at a start with the damaged file
    session = await env.open_session()
    assert session["phones"] == [] and session["phone_linking"] is False
    assert (await env.authenticate(session)).status == 200
    status, body = await signed_in(env, env.phone("iphone"), None)
    assert (status, body["error"]["code"]) == (401, "card_certificate_untrusted")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own: one engine
async def test_a_registration_number_out_of_range_is_a_bad_field(env: Env) -> None:
    for bad in (0, 2**63, -1):
        resp = await clerk_action(env, "revoke", bad)
        assert (resp.status, (await resp.json())["error"]["field"]) == (400, "registration_id")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no SQL of its own: one engine
async def test_an_iphone_cannot_be_reported_pin_blocked(env: Env) -> None:
    iphone = env.phone("iphone")
    assert (await env.link_phone(RESIDENT, iphone)).status == 201
    session = await env.open_session()
    resp = await env.kiosk.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/card-blocked",
        json={"certificate": base64.b64encode(iphone.cert_der).decode()},
        headers=env.kiosk_headers,
    )
    assert (resp.status, (await resp.json())["error"]["code"]) == (409, "not_a_card")
    assert by_form(await registrations(env))["iphone"]["status"] == "active"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"phone_iphone_policy": "1.3.6.1.4.1.32473.34.1"}, "phone_iphone_policy"),  # the same as Android's
        ({"phone_android_policy": "12.3"}, "phone_android_policy"),
        ({"phone_android_policy": "1.02.3"}, "phone_android_policy"),
        ({"phone_pin_iphone": "face_id"}, "phone_pin_iphone"),
    ],
)
def test_phone_settings_are_checked_at_start(overrides: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        load_settings(None, {}, **overrides)
