"""The desk app in front of an in-process server: logging in with the second factor, the session cookie's
flags, forms refused without their CSRF token or from another origin, 個人番号 masked until unmasked with
a reason, and the idle lock that hides the page until the password is typed again."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from devices.printing import FolderPrinter
from issuance_server.staff import second_factor
from konbini_demo.authenticator import Authenticator
from konbini_demo.processes import free_port
from registration.desk.app import make_desk_app
from registration.desk.keys import COOKIE, SESSIONS
from registration.desk.server_api import ServerApi
from tests.server.conftest import STAFF_PASSWORD, Env
from tests.server.test_issuance import authenticated_session, issue
from tests.server.test_records import an_old_issuance
from wire.tls import client_context


@dataclass
class Desk:
    client: TestClient
    origin: str

    async def csrf_of(self, path: str) -> str:
        text = await (await self.client.get(path)).text()
        found = re.search(r'name="csrf" value="([^"]+)"', text)
        assert found, text[:500]
        return found[1]

    async def post(self, path: str, form: dict[str, str], csrf_from: str = "/") -> tuple[int, str]:
        token = await self.csrf_of(csrf_from)
        resp = await self.client.post(path, data={"csrf": token, **form}, headers={"Origin": self.origin})
        return resp.status, await resp.text()

    async def log_in(self, env: Env, staff_id: str = "clerk1", code: str | None = None) -> tuple[int, str]:
        form = {"staff_id": staff_id, "password": STAFF_PASSWORD, "code": code or env.authenticator.code()}
        return await self.post("/login", form, csrf_from="/login")


@pytest.fixture
async def desk(env: Env) -> AsyncIterator[Desk]:
    api = ServerApi(str(env.client.make_url("")), client_context(env.settings.tls_dir / "city-ca.crt"))
    port = free_port()
    origin = f"http://127.0.0.1:{port}"
    printer = FolderPrinter(env.tmp / "desk-printed")
    app = make_desk_app(
        api,
        frozenset({origin}),
        "desk-test",
        env.core.secrets.issuing_public_key,
        idle_lock_s=300,
        printer=printer,
        reader="No Such Reader 00",
    )  # no card reader here: tests/e2e/test_desk_e2e.py has the real one
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    yield Desk(client, origin)
    await client.close()


async def test_pages_need_a_login_and_the_login_needs_the_second_factor(desk: Desk, env: Env) -> None:
    first = await desk.client.get("/", allow_redirects=False)
    assert first.status == 303 and first.headers["Location"] == "/login"
    status, text = await desk.log_in(env, code="000000")
    assert status == 401 and "login_failed" in text
    form = {"csrf": await desk.csrf_of("/login"), "staff_id": "clerk1", "password": STAFF_PASSWORD,
            "code": env.authenticator.code()}  # fmt: skip
    resp = await desk.client.post("/login", data=form, headers={"Origin": desk.origin}, allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/"
    cookie = next(c for c in resp.headers.getall("Set-Cookie") if c.startswith(f"{COOKIE}="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    text = await (await desk.client.get("/")).text()
    assert 'data-page="search"' in text and "clerk1" in text


async def test_every_answer_carries_a_strict_content_security_policy(desk: Desk) -> None:
    resp = await desk.client.get("/login")
    csp = resp.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["X-Content-Type-Options"] == "nosniff"


async def test_a_form_without_its_csrf_token_or_from_another_origin_is_refused(desk: Desk, env: Env) -> None:
    await desk.log_in(env)
    no_token = await desk.client.post("/search", data={"name": "よ"}, headers={"Origin": desk.origin})
    assert no_token.status == 403 and "desk.form_expired" in await no_token.text()
    token = await desk.csrf_of("/")
    elsewhere = await desk.client.post(
        "/search", data={"csrf": token, "name": "よ"}, headers={"Origin": "http://evil.example"}
    )
    assert elsewhere.status == 403
    rebinding = await desk.client.get("/login", headers={"Host": "evil.example"})
    assert rebinding.status == 403
    searched = await env.core.db.fetchall("SELECT 1 FROM audit_log WHERE action = 'resident_search'")
    assert searched == []  # nothing reached the server


async def test_a_counter_clerk_sees_the_mynumber_masked_and_a_mynumber_clerk_unmasks_with_a_reason(
    desk: Desk, env: Env
) -> None:
    await desk.log_in(env)
    status, text = await desk.post("/search", {"name": "よしだ"})
    assert status == 200 and "0000000101" in text
    row = await env.core.db.fetchone("SELECT kojin_bango FROM replica.resident WHERE atena_no = '0000000101'")
    assert row is not None
    full = row["kojin_bango"]
    assert full not in text and "********" + full[-4:] in text
    record = await (await desk.client.get("/residents/0000000101")).text()
    assert full not in record and 'action="/residents/0000000101/mynumber"' not in record  # no mynumber role
    await env.core.db.execute(
        "UPDATE staff SET roles = 'registrar,counter,mynumber' WHERE staff_id = 'clerk1'"
    )
    record = await (await desk.client.get("/residents/0000000101")).text()
    assert 'action="/residents/0000000101/mynumber"' not in record  # roles are read at login
    await desk.post("/logout", {})
    await desk.log_in(env)
    status, shown = await desk.post(
        "/residents/0000000101/mynumber", {"reason": "本人確認"}, "/residents/0000000101"
    )
    assert status == 200 and full in shown
    again = await (await desk.client.get("/residents/0000000101")).text()
    assert full not in again  # shown in that answer only


async def test_an_idle_desk_locks_and_shows_nothing_personal_until_the_password(desk: Desk, env: Env) -> None:
    await desk.log_in(env)
    server = desk.client.server
    assert isinstance(server, TestServer)
    sessions = server.app[SESSIONS]
    sessions.idle_lock_s = 0.0  # as if five minutes had passed
    resp = await desk.client.get("/residents/0000000101", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/lock"
    sessions.idle_lock_s = 300.0
    locked = await (await desk.client.get("/lock")).text()
    assert "0000000101" not in locked and "髙志" not in locked and 'data-page="lock"' in locked
    still = await desk.client.get("/", allow_redirects=False)
    assert still.headers["Location"] == "/lock"  # locked until the password, whatever the page
    status, text = await desk.post("/lock", {"password": "wrong-password-0"}, "/lock")
    assert status == 401 and "login_failed" in text
    status, text = await desk.post("/lock", {"password": STAFF_PASSWORD}, "/lock")
    assert status == 200 and 'data-page="search"' in text


async def log_in_as(desk: Desk, env: Env, staff_id: str, roles: str) -> None:
    """A staff member with ``roles`` logged in at the desk (their second factor enrolled directly)."""
    seed = second_factor.new_seed()
    await env.add_staff(staff_id, roles, seed=seed)
    device = Authenticator(seed)
    device.code()  # the step add_staff's own login used
    form = {"staff_id": staff_id, "password": STAFF_PASSWORD, "code": device.code()}
    status, _ = await desk.post("/login", form, "/login")
    assert status == 200


async def test_an_administrator_creates_staff_and_changes_their_roles_at_the_desk(
    desk: Desk, env: Env
) -> None:
    await desk.log_in(env)
    refused = await desk.client.get("/admin/staff")
    assert refused.status == 403  # clerk1 is no administrator
    await desk.post("/logout", {})
    await log_in_as(desk, env, "admin9", "admin")
    form = {"staff_id": "new-clerk", "display_name": "新任", "roles": "counter"}
    status, text = await desk.post("/admin/staff", form, "/admin/staff")
    assert status == 200 and "new-clerk: asked for" in text
    assert 'id="approve-new-clerk"' not in text  # not for one's own request
    await desk.post("/logout", {})
    await log_in_as(desk, env, "admin8", "admin")
    approve = {"action": "approve", "password": STAFF_PASSWORD}
    status, text = await desk.post("/admin/staff/new-clerk", approve, "/admin/staff")
    assert status == 200 and "new-clerk: 承認しました" in text, text
    status, text = await desk.post(
        "/admin/staff/new-clerk", {"action": "roles", "roles": "registrar"}, "/admin/staff"
    )
    assert status == 200
    row = await env.core.db.fetchone("SELECT roles, pending_roles FROM staff WHERE staff_id = 'new-clerk'")
    assert row is not None and (row["roles"], row["pending_roles"]) == (
        "",
        "registrar",
    )  # away at once, added waits
    status, text = await desk.post("/admin/staff/admin8", {"action": "deactivate"}, "/admin/staff")
    assert status == 400 and "own_account" in text


async def test_an_auditor_reviews_the_month_at_the_desk(desk: Desk, env: Env) -> None:
    await log_in_as(desk, env, "auditor9", "auditor")
    text = await (await desk.client.get("/review")).text()
    assert 'data-page="review"' in text and 'id="figures"' in text
    month = re.search(r'name="month" value="([0-9-]+)"', text)
    assert month
    status, text = await desk.post("/review", {"month": month[1], "comment": "異常なし"}, "/review")
    assert status == 200 and "reviewed" in text and "異常なし" in text
    pdf = await desk.client.get(f"/review.pdf?month={month[1]}")
    assert pdf.status == 200 and (await pdf.read()).startswith(b"%PDF")


async def test_the_record_lists_issuances_and_a_lost_card_is_revoked(desk: Desk, env: Env) -> None:
    resp = await issue(env, await authenticated_session(env))
    serial = (await resp.json())["certificates"][0]["serial"]
    await desk.log_in(env)
    record = await (await desk.client.get("/residents/0000000101")).text()
    assert serial in record and 'id="issuances"' in record
    path = "/residents/0000000101/status"
    assert 'id="action-suspend"' in record and 'id="action-unlock"' not in record  # what applies to "active"
    status, text = await desk.post(path, {"action": "revoke", "reason": "紛失届"}, "/residents/0000000101")
    assert status == 200 and 'id="confirm-revoke"' in text and 'value="紛失届"' in text  # asked once more
    row = await env.core.db.fetchone("SELECT status FROM registrations WHERE atena_no = '0000000101'")
    assert row is not None and row["status"] == "active"
    status, text = await desk.post(
        path, {"action": "revoke", "reason": "紛失届", "confirmed": "yes"}, "/residents/0000000101"
    )
    assert status == 200 and "失効させました" in text and 'id="status-actions"' not in text
    row = await env.core.db.fetchone("SELECT status FROM registrations WHERE atena_no = '0000000101'")
    assert row is not None and row["status"] == "revoked"
    refused = await env.authenticate(await env.open_session())
    assert refused.status in (401, 403)
    status, text = await desk.post(path, {"action": "resume", "reason": "x"}, "/residents/0000000101")
    assert status == 400 and "nothing_to_change" in text  # revoked for good: a new card is registered


async def test_counter_issuance_at_the_desk_prints_in_recovery_mode_only(desk: Desk, env: Env) -> None:
    await desk.log_in(env)
    path = "/residents/0000000101/issue"
    status, text = await desk.post(path, {"kind": "juminhyo", "copies": "1"}, "/residents/0000000101")
    assert status == 400 and "counter_issuance_recovery_only" in text
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    resp = await env.client.post("/ops/api/mode", json={"mode": "recovery", "reason": "test"}, headers=ops)
    assert resp.status == 200
    status, text = await desk.post(path, {"kind": "juminhyo", "copies": "2"}, "/residents/0000000101")
    assert status == 200 and "printed" in text, text[-800:]
    printed = sorted((env.tmp / "desk-printed").glob("certificate-*.pdf"))
    assert len(printed) == 2 and all(p.read_bytes().startswith(b"%PDF") for p in printed)
    rows = await env.core.db.fetchall("SELECT status FROM issuances WHERE channel = 'counter'")
    assert [r["status"] for r in rows] == ["printed", "printed"]


async def test_the_desks_print_guard_prints_no_counter_certificate_made_for_another_session(
    desk: Desk, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PDF that another clerk's session had issued (here: the first request's, handed over again for the
    second) is not printed: voided, refunded and alarmed; the clerk is told."""
    await desk.log_in(env)
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    await env.client.post("/ops/api/mode", json={"mode": "recovery", "reason": "test"}, headers=ops)
    path = "/residents/0000000101/issue"
    fetch = ServerApi.fetch
    first: dict[str, bytes] = {}

    async def replaying(self: ServerApi, url: str, token: str, query: dict[str, str] | None = None) -> bytes:
        pdf = await fetch(self, url, token, query)
        return first.setdefault("pdf", pdf)  # every fetch after the first gets the first PDF again

    monkeypatch.setattr(ServerApi, "fetch", replaying)
    status, text = await desk.post(path, {"kind": "juminhyo", "copies": "2"}, "/residents/0000000101")
    assert status == 502 and "print guard" in text and "wrong_serial" in text, text[-800:]
    assert len(sorted((env.tmp / "desk-printed").glob("certificate-*.pdf"))) == 1  # the first, genuine
    rows = await env.core.db.fetchall(
        "SELECT serial, status, refund_yen FROM issuances WHERE channel = 'counter' ORDER BY serial"
    )
    assert [r["status"] for r in rows] == ["printed", "voided"] and rows[1]["refund_yen"] > 0
    [alarm] = await env.core.db.fetchall("SELECT * FROM audit_log WHERE action = 'print_guard'")
    assert alarm["actor_kind"] == "staff" and rows[1]["serial"] in alarm["details"]


async def test_a_purge_requested_at_the_desk_is_carried_out_on_another_administrators_approval(
    desk: Desk, env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    serial = await an_old_issuance(env, monkeypatch)
    await log_in_as(desk, env, "ops7", "ops")
    status, text = await desk.post("/purges", {"before": "2020-01-01", "reason": "保存期間経過"}, "/purges")
    assert (
        status == 200
        and "requested" in text
        and "approve" not in text.split('id="purges"')[1].split("</table>")[0]
    )
    await desk.post("/logout", {})
    await log_in_as(desk, env, "admin7", "admin")
    listed = await (await desk.client.get("/purges")).text()
    approve = re.search(r'action="(/purges/[0-9]+/approve)"', listed)
    assert approve, listed[-1500:]
    status, text = await desk.post(approve[1], {}, "/purges")
    assert status == 200 and "done: 1 issuance records" in text
    assert await env.core.db.fetchone("SELECT 1 FROM issuances WHERE serial = ?", (serial,)) is None


async def test_ops_staff_see_the_status_and_switch_the_mode_as_themselves(desk: Desk, env: Env) -> None:
    await log_in_as(desk, env, "ops8", "ops")
    text = await (await desk.client.get("/ops")).text()
    assert 'data-page="ops"' in text and "normal" in text
    status, text = await desk.post("/ops/mode", {"mode": "recovery", "reason": ""}, "/ops")
    assert status == 400 and "reason" in text
    status, text = await desk.post("/ops/mode", {"mode": "recovery", "reason": "保守のため"}, "/ops")
    assert status == 200 and "mode recovery: done" in text and env.core.mode == "recovery"
    row = await env.core.db.fetchone("SELECT actor_id FROM audit_log WHERE action = 'mode_switch'")
    assert row is not None and row["actor_id"] == "ops8"  # as themselves, not a shared token


async def test_unlocking_needs_the_residents_card_on_the_desk_reader(desk: Desk, env: Env) -> None:
    await env.core.db.execute("UPDATE registrations SET status = 'locked' WHERE atena_no = '0000000101'")
    await desk.log_in(env)
    status, text = await desk.post(
        "/residents/0000000101/status", {"action": "unlock", "reason": "本人来庁"}, "/residents/0000000101"
    )
    assert status == 400 and "desk.put_card_on_reader" in text and "窓口のリーダー" in text
    row = await env.core.db.fetchone("SELECT status FROM registrations WHERE atena_no = '0000000101'")
    assert row is not None and row["status"] == "locked"
