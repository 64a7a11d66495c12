"""A registrar alone cannot bind a card to another person (issue 27 M3): the registration carries the card's
own identity, which must be signed by the card issuer and match the resident's record."""

from __future__ import annotations

import base64
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.server.conftest import Env, make_card
from wire.card_identity import signature_file

RESIDENT, STRANGER = "0000000101", "0000000102"


async def registrations(env: Env) -> list[Any]:
    rows = await env.core.db.fetchall(
        "SELECT card_serial, status FROM registrations WHERE atena_no = ?", (RESIDENT,)
    )
    return [(r["card_serial"], r["status"]) for r in rows]


async def error_of(resp: Any) -> tuple[int, str, Any]:
    err = (await resp.json())["error"]
    return resp.status, err["code"], err.get("fields")


async def test_a_card_holding_another_persons_identity_is_refused_and_audited(env: Env) -> None:
    card = make_card(env.tmp / "card-ca", env.tmp / "cards" / "stranger.json")
    stranger = await env.identity_of(STRANGER)
    before = await registrations(env)
    refused = await env.register(RESIDENT, card, identity=stranger)
    status, code, fields = await error_of(refused)
    assert (status, code) == (409, "identity_mismatch") and "name" in fields
    row = await env.core.db.fetchone(
        "SELECT result, details FROM audit_log WHERE action = 'register_card' ORDER BY seq DESC LIMIT 1"
    )
    assert row is not None and row["result"] == "refused_identity_mismatch"
    assert stranger.name not in row["details"]  # which fields differ, never their values
    assert await registrations(env) == before  # nothing bound
    assert (await env.register(RESIDENT, card)).status == 201  # the resident's own card: registered


async def challenge(env: Env) -> bytes:
    asked = await env.client.post("/clerk/api/registrations/challenge", headers=env.clerk_headers)
    return base64.b64decode((await asked.json())["challenge"])


async def post(env: Env, body: dict[str, Any]) -> Any:
    return await env.client.post("/clerk/api/registrations", json=body, headers=env.clerk_headers)


async def test_an_identity_the_card_issuer_did_not_sign_is_refused(env: Env) -> None:
    card = make_card(env.tmp / "card-ca", env.tmp / "cards" / "forged.json")
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    body = env.registration(RESIDENT, card, "4321", await env.identity_of(RESIDENT), await challenge(env))
    basic_four = base64.b64decode(body["identity"]["basic_four"])  # the right data, a made-up signature
    forged = signature_file(basic_four, forger, forger.public_key())
    body["identity"]["signature"] = base64.b64encode(forged).decode()
    assert (await error_of(await post(env, body)))[:2] == (409, "identity_unverified")
    del body["identity"]
    assert (await error_of(await post(env, body)))[:2] == (400, "bad_field")


async def test_identity_files_seen_once_cannot_be_sent_again_with_another_card(env: Env) -> None:
    """Review finding: the files the desk sent at a resident's registration, replayed by a registrar with
    their own card; a challenge is used once, and each registration's is signed by the card present."""
    first = await challenge(env)
    seen = env.registration(RESIDENT, env.card, "4321", await env.identity_of(RESIDENT), first)
    assert (await post(env, seen)).status == 201
    assert (await error_of(await post(env, seen)))[:2] == (409, "challenge_unknown")  # used once
    own = make_card(env.tmp / "card-ca", env.tmp / "cards" / "registrars.json")
    mine = env.registration(RESIDENT, own, "4321", await env.identity_of(RESIDENT), await challenge(env))
    mine["identity"] = seen["identity"]  # the resident's files, signed over the old challenge
    assert (await error_of(await post(env, mine)))[:2] == (409, "identity_unverified")
    forged = env.registration(RESIDENT, own, "4321", await env.identity_of(RESIDENT), await challenge(env))
    forged["card_signature"] = seen["card_signature"]  # a certificate without its card's signature
    assert (await error_of(await post(env, forged)))[:2] == (409, "card_not_present")


async def test_a_card_registered_to_another_resident_is_refused_and_the_refusal_stays_audited(
    env: Env,
) -> None:
    """The refusal's audit row was written inside the transaction the refusal rolled back: it was lost."""
    refused = await env.register(STRANGER, env.card)  # the fixture's card is registered to RESIDENT
    assert (await error_of(refused))[:2] == (409, "card_registered_to_other")
    row = await env.core.db.fetchone(
        "SELECT result FROM audit_log WHERE action = 'register_card' ORDER BY seq DESC LIMIT 1"
    )
    assert row is not None and row["result"] == "card_registered_to_other"
