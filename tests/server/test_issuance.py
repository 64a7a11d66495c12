"""Kiosk API: issuing, fetching through the session only, print reports, refusals, audit chain."""

from __future__ import annotations

import dataclasses
import re
import subprocess
from typing import Any

import pytest

from tests.server.conftest import Env, make_card
from wire.cert_qr import extract_record_text, verify_text
from wire.kiosk_api import API_PREFIX


async def authenticated_session(env: Env) -> dict[str, Any]:
    session = await env.open_session()
    resp = await env.authenticate(session)
    assert resp.status == 200, await resp.text()
    return session


def url(session: dict[str, Any], tail: str) -> str:
    return f"{API_PREFIX}/sessions/{session['session_id']}{tail}"


async def issue(env: Env, session: dict[str, Any], **body: Any) -> Any:
    return await env.buy(session, {"kind": "juminhyo", **body})


async def test_issue_fetch_print_and_verify(env: Env) -> None:
    session = await authenticated_session(env)
    resp = await issue(env, session)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    serial = body["certificates"][0]["serial"]
    assert body["total_fee_yen"] == env.settings.kiosk_fees_yen["juminhyo"]
    pdf_resp = await env.kiosk.get(url(session, f"/certificates/{serial}/pdf"), headers=env.kiosk_headers)
    assert pdf_resp.status == 200 and pdf_resp.content_type == "application/pdf"
    pdf = await pdf_resp.read()
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "𠮷田　髙志" in text and "鹿児島市山下町11番1号" in text and serial in text
    report = await env.kiosk.post(
        url(session, f"/certificates/{serial}/print-report"),
        json={"printed": True},
        headers=env.kiosk_headers,
    )
    assert (await report.json())["status"] == "printed"
    # Printed: the server no longer holds the PDF.
    again = await env.kiosk.get(url(session, f"/certificates/{serial}/pdf"), headers=env.kiosk_headers)
    assert again.status == 409


@pytest.mark.parametrize(
    ("body", "scope_word"),
    [
        ({"scope": "self"}, "世帯の一部"),  # the holder alone, of a household of two
        ({"scope": "household"}, "世帯全員"),
    ],
)
async def test_certification_names_the_scope_the_server_printed(
    env: Env, body: dict[str, Any], scope_word: str
) -> None:
    session = await authenticated_session(env)
    resp = await issue(env, session, **body)
    assert resp.status == 201, await resp.text()
    serial = (await resp.json())["certificates"][0]["serial"]
    pdf_resp = await env.kiosk.get(url(session, f"/certificates/{serial}/pdf"), headers=env.kiosk_headers)
    pdf = await pdf_resp.read()
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert f"この写しは、{scope_word}の住民票の原本と相違ないことを証明する。" in text


async def test_pdf_is_bound_to_its_session(env: Env) -> None:
    first = await authenticated_session(env)
    serial = (await (await issue(env, first)).json())["certificates"][0]["serial"]
    second = await authenticated_session(env)
    resp = await env.kiosk.get(url(second, f"/certificates/{serial}/pdf"), headers=env.kiosk_headers)
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "issuance_unknown"


async def test_print_failure_voids_and_verify_says_voided(env: Env) -> None:
    session = await authenticated_session(env)
    serial = (await (await issue(env, session)).json())["certificates"][0]["serial"]
    pdf = await (
        await env.kiosk.get(url(session, f"/certificates/{serial}/pdf"), headers=env.kiosk_headers)
    ).read()
    report = await env.kiosk.post(
        url(session, f"/certificates/{serial}/print-report"),
        json={"printed": False},
        headers=env.kiosk_headers,
    )
    assert (await report.json())["status"] == "voided"
    path = env.tmp / "voided.pdf"
    path.write_bytes(pdf)
    qr_text = extract_record_text(path)
    assert verify_text(qr_text, env.core.secrets.issuing_public_key).valid
    check = await env.client.post("/verify", json={"qr_text": qr_text})
    assert (await check.json())["result"] == "VOIDED"


async def test_issue_needs_authentication_and_a_known_kind(env: Env) -> None:
    session = await env.open_session()
    resp = await issue(env, session)
    assert (await resp.json())["error"]["code"] == "not_authenticated"
    await env.authenticate(session)
    resp = await issue(env, session, kind="passport")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "kind_unknown"
    resp = await issue(env, session, copies=0)
    assert (await resp.json())["error"]["code"] == "bad_field"


@pytest.mark.parametrize(
    ("atena_no", "reason"), [("0000000103", "moveout_planned"), ("0000000104", "unprintable_character")]
)
async def test_refused_resident_sees_why(env: Env, atena_no: str, reason: str) -> None:
    card = make_card(env.tmp / "card-ca", env.tmp / "cards" / "mover.json")
    assert (await env.register(atena_no, card)).status == 201
    session = await env.open_session()
    assert (await env.authenticate(session, card=card)).status == 200
    menu = await (await env.kiosk.get(url(session, "/menu"), headers=env.kiosk_headers)).json()
    assert menu["items"][0]["available"] is False
    assert menu["items"][0]["refusal"]["code"] == reason
    resp = await issue(env, session)
    assert resp.status == 403 and (await resp.json())["error"]["refusal"]["code"] == reason


async def test_audit_chain_records_every_step_and_detects_edits(env: Env) -> None:
    session = await authenticated_session(env)
    await issue(env, session)
    rows = await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")
    actions = [r["action"] for r in rows]
    for action in (
        "staff_bootstrap",
        "kiosk_enrol",
        "totp_enrol",
        "register_card",
        "session_open",
        "authenticate",
        "issue",
    ):
        assert action in actions
    assert (await env.core.guard.full_report()).intact
    details = " ".join(r["details"] for r in rows)
    # no names or PINs in the log (the PIN as a value of its own, not inside a random card id)
    assert "𠮷田" not in details and not re.search(r"(?<![0-9A-Za-z])4321(?![0-9A-Za-z])", details)


async def test_the_qr_links_to_the_check_page_and_still_verifies_offline(env: Env) -> None:
    env.core.settings = dataclasses.replace(env.core.settings, public_base_url="https://city.example.jp/")
    session = await authenticated_session(env)
    serial = (await (await issue(env, session)).json())["certificates"][0]["serial"]
    pdf = await (
        await env.kiosk.get(url(session, f"/certificates/{serial}/pdf"), headers=env.kiosk_headers)
    ).read()
    path = env.tmp / "linked.pdf"
    path.write_bytes(pdf)
    qr_text = extract_record_text(path)
    assert qr_text.startswith("https://city.example.jp/verify/KB2.")  # a kiosk sheet names its requester
    outcome = verify_text(qr_text, env.core.secrets.issuing_public_key)  # offline, from the link itself
    assert outcome.valid and outcome.record is not None and outcome.record.serial == serial
    page = await env.client.get(qr_text.removeprefix("https://city.example.jp"))  # what the phone opens
    assert page.status == 200 and "有効" in await page.text() and serial in await page.text()
    tampered = await env.client.get(qr_text.removeprefix("https://city.example.jp")[:-3] + "AAA")
    assert "有効" not in await tampered.text()
