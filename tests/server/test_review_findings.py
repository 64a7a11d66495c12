"""Defects an independent review found, kept from coming back."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import json
from functools import partial
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from issuance_server.storage.engine import Tx
from recovery.feed_page import Change, FeedPage
from recovery.link import complete_batches
from tests.server.conftest import PIN, Env
from wire.kiosk_api import API_PREFIX


async def test_forged_certificate_with_an_odd_algorithm_is_untrusted_not_500(env: Env) -> None:
    ca = x509.load_pem_x509_certificate(env.settings.card_ca_cert.read_bytes())
    key = ed25519.Ed25519PrivateKey.generate()
    now = dt.datetime.now(dt.UTC)
    der = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, None)
        .public_bytes(Encoding.DER)
    )
    session = await env.open_session()
    body = {
        "nonce": session["nonce"],
        "certificate": base64.b64encode(der).decode(),
        "signature": base64.b64encode(b"x" * 256).decode(),
        "pin": PIN,
    }
    resp = await env.kiosk.post(
        f"{API_PREFIX}/sessions/{session['session_id']}/authenticate", json=body, headers=env.kiosk_headers
    )
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "card_certificate_untrusted"


async def test_a_body_arriving_in_two_segments_is_read_whole(env: Env) -> None:
    session = await env.open_session()
    body = json.dumps(env.auth_body(session)).encode()
    reader, writer = await asyncio.open_connection(
        env.client.server.host, env.client.server.port, ssl=env.kiosk_ssl, server_hostname="127.0.0.1"
    )
    head = (
        f"POST {API_PREFIX}/sessions/{session['session_id']}/authenticate HTTP/1.1\r\nHost: x\r\n"
        "X-Kiosk-Id: kiosk-t1\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body[:100])
    await writer.drain()
    await asyncio.sleep(0.2)
    writer.write(body[100:])
    await writer.drain()
    answer = await reader.read()
    writer.close()
    assert b" 200 " in answer.split(b"\r\n", 1)[0], answer[:300]


async def test_a_card_suspended_mid_session_cannot_issue(env: Env) -> None:
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    resp = await env.client.post(
        "/clerk/api/registrations/suspend",
        json={"atena_no": "0000000101", "reason": "stolen"},
        headers=env.clerk_headers,
    )
    assert resp.status == 200
    resp = await env.buy(session, {"kind": "juminhyo"})
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "registration_suspended"


async def test_ending_a_session_voids_and_deletes_what_was_not_printed(env: Env) -> None:
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    resp = await env.buy(session, {"kind": "juminhyo"})
    serial = (await resp.json())["certificates"][0]["serial"]
    await env.kiosk.delete(f"{API_PREFIX}/sessions/{session['session_id']}", headers=env.kiosk_headers)
    assert await env.core.db.fetchone("SELECT 1 FROM issuance_documents WHERE serial = ?", (serial,)) is None
    row = await env.core.db.fetchone(
        "SELECT status, refund_yen, fee_yen FROM issuances WHERE serial = ?", (serial,)
    )
    assert row is not None
    assert row["status"] == "voided" and row["refund_yen"] == row["fee_yen"]


async def test_concurrent_wrong_pins_never_exceed_the_limit(env: Env) -> None:
    sessions = [await env.open_session() for _ in range(6)]
    answers = await asyncio.gather(*(env.authenticate(s, pin="0000") for s in sessions))
    assert all(a.status in (401, 403) for a in answers)
    row = await env.core.db.fetchone(
        "SELECT COALESCE(f.failures, 0) AS failures, r.status FROM registrations r"
        " LEFT JOIN pin_failures f ON f.registration_id = r.registration_id WHERE r.atena_no = '0000000101'"
    )
    assert row is not None
    assert row["status"] == "locked" and row["failures"] == env.settings.pin_max_failures
    assert (await env.authenticate(await env.open_session())).status == 403  # the right PIN, too late


def change(seq: int, at: str) -> Change:
    return Change(seq, "remove", "seal", f"S{seq}", 1, at, None)


def test_a_page_never_ends_in_half_an_upstream_batch() -> None:
    page = FeedPage("e", [change(1, "a"), change(2, "b"), change(3, "b")], last_seq=5)
    assert [c.seq for c in complete_batches(page)] == [1]  # 2-3 may continue with 4-5
    whole = FeedPage("e", page.changes, last_seq=3)
    assert [c.seq for c in complete_batches(whole)] == [1, 2, 3]
    one_batch = FeedPage("e", [change(1, "a"), change(2, "a")], last_seq=9)
    assert [c.seq for c in complete_batches(one_batch)] == [1, 2]  # a page of one batch still moves on


async def test_the_sweeper_voids_what_no_session_will_report(env: Env) -> None:
    from issuance_server.audit.trail import SYSTEM
    from issuance_server.issuing.documents import void_unprinted

    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    resp = await env.buy(session, {"kind": "juminhyo"})
    serial = (await resp.json())["certificates"][0]["serial"]

    def void_before(before: str, tx: Tx) -> int:
        return void_unprinted(tx, env.core.audit, SYSTEM, "test", issued_before=before)

    assert await env.core.db.write(partial(void_before, "2000-01-01T00:00:00Z")) == 0
    assert await env.core.db.write(partial(void_before, "2100-01-01T00:00:00Z")) == 1
    row = await env.core.db.fetchone("SELECT status FROM issuances WHERE serial = ?", (serial,))
    assert row is not None
    assert row["status"] == "voided"


async def test_concurrent_right_pins_do_not_lock(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    """L10: attempts are judged in turn: more right-PIN attempts at once than the limit all pass (they were
    refused registration_locked when each was counted before any was judged)."""
    verify = env.core.hasher.verify

    async def slow_verify(*args: Any) -> bool:  # argon2id at its real cost: the attempts overlap
        await asyncio.sleep(0.05)
        return await verify(*args)

    monkeypatch.setattr(env.core.hasher, "verify", slow_verify)
    sessions = [await env.open_session() for _ in range(env.settings.pin_max_failures + 1)]
    answers = await asyncio.gather(*(env.authenticate(s) for s in sessions))
    assert [a.status for a in answers] == [200] * len(sessions)
    assert len(env.core.pin_turns) == 0  # no lock kept once nobody waits
    row = await env.core.db.fetchone(
        "SELECT COALESCE(f.failures, 0) AS failures, r.status FROM registrations r"
        " LEFT JOIN pin_failures f ON f.registration_id = r.registration_id WHERE r.atena_no = '0000000101'"
    )
    assert row is not None
    assert row["status"] == "active" and row["failures"] == 0
