"""Records at the city hall: 個人番号 unmasked only by the mynumber role with a reason (audited), the
month's review as JSON and PDF and marked reviewed by an auditor, and a purge past retention that needs a
second person's approval, erases unrecoverably and leaves the audit trail verifiable."""

from __future__ import annotations

import json
import logging
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Env
from tests.server.test_issuance import authenticated_session, issue
from wire.clock import JST, jst_now

NAME = "𠮷田　髙志".encode()  # printed on 0000000101's certificates; kept in issuance_sources


async def test_mynumber_is_masked_in_searches_and_unmasked_only_with_a_reason(env: Env) -> None:
    viewer = await env.add_staff("viewer", "counter,mynumber")
    found = await (await env.client.get("/clerk/api/residents?atena_no=0000000101", headers=viewer)).json()
    assert found["residents"][0]["kojin_bango"].startswith("********")  # masked even for mynumber
    url = "/clerk/api/residents/0000000101/mynumber"
    no_reason = await env.client.get(url, headers=viewer)
    assert no_reason.status == 400 and (await no_reason.json())["error"]["field"] == "reason"
    counter_only = await env.client.get(f"{url}?reason=x", headers=env.clerk_headers)
    assert counter_only.status == 403
    shown = await (await env.client.get(f"{url}?reason=本人確認のため", headers=viewer)).json()
    assert len(shown["kojin_bango"]) == 12 and shown["kojin_bango"].isdigit()
    row = await env.core.db.fetchone(
        "SELECT actor_id, subject, details FROM audit_log WHERE action = 'mynumber_view'"
    )
    assert row is not None and (row["actor_id"], row["subject"]) == ("viewer", "0000000101")
    assert json.loads(row["details"])["reason"] == "本人確認のため"
    assert shown["kojin_bango"] not in row["details"]


async def test_the_access_log_names_the_route_not_the_resident_whose_mynumber_was_shown(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    viewer = await env.add_staff("viewer", "counter,mynumber")
    url = "/clerk/api/residents/0000000101/mynumber?reason=本人確認"
    assert (await env.client.get(url, headers=viewer)).status == 200
    assert (await env.client.get("/clerk/api/residents/0000000101/no-such", headers=viewer)).status == 404
    lines = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any(line.startswith("GET /clerk/api/residents/{atena_no}/mynumber 200 ") for line in lines)
    assert any(line.startswith("GET (no route) 404 ") for line in lines)
    assert "0000000101" not in caplog.text


async def test_the_months_review_as_json_and_pdf_and_marked_reviewed_once(env: Env) -> None:
    auditor = await env.add_staff("auditor1", "auditor")
    await issue(env, await authenticated_session(env))
    row = await env.core.db.fetchone("SELECT issued_at FROM issuances ORDER BY issued_at DESC LIMIT 1")
    assert row is not None  # the month it was issued in (Japan time), even when that ended a moment ago
    month = f"{datetime.fromisoformat(row['issued_at'].replace('Z', '+00:00')).astimezone(JST):%Y-%m}"
    figures = await (await env.client.get(f"/ops/api/audit/review?month={month}", headers=auditor)).json()
    assert figures["issuances"]["by_channel"] == {"kiosk": 1} and figures["reviewed"] is None
    bad = await env.client.get("/ops/api/audit/review?month=2026-13", headers=auditor)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "month"
    body = {"month": month, "comment": "checked: no anomaly"}
    assert (
        await env.client.post("/clerk/api/audit/reviews", json=body, headers=env.clerk_headers)
    ).status == 403
    assert (await env.client.post("/clerk/api/audit/reviews", json=body, headers=auditor)).status == 201
    again = await env.client.post("/clerk/api/audit/reviews", json=body, headers=auditor)
    assert again.status == 409 and (await again.json())["error"]["code"] == "already_reviewed"
    resp = await env.client.get(f"/ops/api/audit/review?month={month}&format=pdf", headers=auditor)
    assert resp.status == 200 and resp.content_type == "application/pdf"
    text = subprocess.run(
        ["pdftotext", "-", "-"], input=await resp.read(), capture_output=True, check=True
    ).stdout
    shown = text.decode()
    assert f"操作ログ月次点検報告 {month}" in shown and "issuances 1 (kiosk 1)" in shown
    assert "reviewed by auditor1" in shown and "checked: no anomaly" in shown


def db_bytes(env: Env) -> bytes:
    path = Path(env.settings.db_path)
    wal = Path(f"{path}-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


async def table_files(env: Env) -> dict[str, str]:
    """PostgreSQL: the file of each table a purge erases from (nothing on SQLite: one file)."""
    if env.core.db.kind == "sqlite":
        return {}
    rows = await env.core.db.fetchall(
        "SELECT relname, pg_relation_filepath(oid) AS path FROM pg_class"
        " WHERE relname IN ('issuances', 'issuance_sources', 'kiosk_payments', 'audit_log')"
    )
    return {r["relname"]: r["path"] for r in rows}


async def an_old_issuance(env: Env, monkeypatch: pytest.MonkeyPatch) -> str:
    """A certificate issued (and audited) in 2019: past any retention."""
    monkeypatch.setattr("issuance_server.audit.trail.utc_now_iso", lambda: "2019-01-05T01:00:00.000Z")
    resp = await issue(env, await authenticated_session(env))
    monkeypatch.undo()
    serial = str((await resp.json())["certificates"][0]["serial"])
    await env.core.db.execute(
        "UPDATE issuances SET issued_at = '2019-01-05T01:00:00.000Z' WHERE serial = ?", (serial,)
    )
    await env.core.db.execute("UPDATE kiosk_payments SET created_at = '2019-01-05T01:00:00.000Z'")
    return serial


async def test_a_purge_needs_a_second_administrator_and_erases_unrecoverably(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = await an_old_issuance(env, monkeypatch)
    sqlite = env.core.db.kind == "sqlite"
    if sqlite:
        await env.core.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert NAME in db_bytes(env)
    files_before = await table_files(env)
    requester = await env.add_staff("ops1", "ops,admin")
    approver = await env.add_staff("admin2", "admin")
    body: dict[str, Any] = {"before": "2020-01-01", "reason": "5年経過"}
    recent = await env.client.post(
        "/clerk/api/purges", json={**body, "before": f"{jst_now():%Y-%m-%d}"}, headers=requester
    )
    assert recent.status == 409 and (await recent.json())["error"]["code"] == "within_retention"
    made = await (await env.client.post("/clerk/api/purges", json=body, headers=requester)).json()
    pid = made["purge_id"]
    assert made["status"] == "requested"
    assert await env.core.db.fetchone("SELECT 1 FROM issuances WHERE serial = ?", (serial,))  # nothing yet
    own = await env.client.post(f"/clerk/api/purges/{pid}/approve", headers=requester)
    assert own.status == 409 and (await own.json())["error"]["code"] == "approver_is_requester"
    clerk = await env.client.post(f"/clerk/api/purges/{pid}/approve", headers=env.clerk_headers)
    assert clerk.status == 403
    assert await env.core.db.fetchone("SELECT 1 FROM issuances WHERE serial = ?", (serial,))  # still nothing
    done = await (await env.client.post(f"/clerk/api/purges/{pid}/approve", headers=approver)).json()
    assert (done["status"], done["requested_by"], done["approved_by"]) == ("done", "ops1", "admin2")
    assert done["erased"]["issuances"] == 1 and done["erased"]["serials"] == [serial, serial]
    assert done["erased"]["audit_rows_erased"] >= 1
    again = await env.client.post(f"/clerk/api/purges/{pid}/approve", headers=approver)
    assert (await again.json())["error"]["code"] == "purge_not_pending"
    assert await env.core.db.fetchone("SELECT 1 FROM issuances WHERE serial = ?", (serial,)) is None
    assert await env.core.db.fetchone("SELECT 1 FROM issuance_sources WHERE serial = ?", (serial,)) is None
    old = await env.core.db.fetchall("SELECT subject FROM audit_log WHERE at < '2020-01-01'")
    assert old and all(r["subject"] is None for r in old)
    if sqlite:
        assert NAME not in db_bytes(env)  # not in a free page, not in the WAL
    else:  # each table erased from was rewritten into a new file (the old one removed)
        assert not set(files_before.items()) & set((await table_files(env)).items())
    trail = await env.core.guard.full_report()
    assert trail.intact and trail.erased >= 1  # erased by a recorded purge, older than its cut-off
    record = await env.core.db.fetchone("SELECT details FROM audit_log WHERE action = 'purge'")
    assert record is not None and json.loads(record["details"])["approved_by"] == "admin2"
