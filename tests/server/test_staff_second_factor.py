"""Staff second factor and administration: TOTP enrolment shown once, a code accepted once, recovery codes
used once, wrong codes counting toward the lockout, seeds sealed in the database, and an administrator
who creates staff, changes roles, resets a second factor and deactivates, never their own account."""

from __future__ import annotations

from typing import Any

from issuance_server.staff import second_factor
from konbini_demo.authenticator import Authenticator
from tests.server.conftest import STAFF_PASSWORD, Env


async def a_new_account(env: Env, staff_id: str, roles: list[str]) -> dict[str, str]:
    """Asked for by admin1, approved by admin2 with the temporary password (four eyes); admin1's headers."""
    asker, approver = await env.add_staff("admin1", "admin"), await env.add_staff("admin2", "admin")
    new = {"staff_id": staff_id, "display_name": "新任", "roles": roles}
    assert (await env.client.post("/clerk/api/admin/staff", json=new, headers=asker)).status == 201
    approved = await env.client.post(
        f"/clerk/api/admin/staff/{staff_id}/approve", json={"password": STAFF_PASSWORD}, headers=approver
    )
    assert approved.status == 200, await approved.text()
    return asker


async def login_as(env: Env, staff_id: str, **second: str) -> Any:
    return await env.client.post(
        "/clerk/api/login", json={"staff_id": staff_id, "password": STAFF_PASSWORD, **second}
    )


async def test_a_totp_code_is_accepted_once(env: Env) -> None:
    code = env.authenticator.code()
    first = await login_as(env, "clerk1", totp_code=code)
    again = await login_as(env, "clerk1", totp_code=code)
    assert first.status == 200
    assert again.status == 401 and (await again.json())["error"]["code"] == "login_failed"


async def test_the_password_alone_is_not_enough(env: Env) -> None:
    no_code = await env.client.post(
        "/clerk/api/login", json={"staff_id": "clerk1", "password": STAFF_PASSWORD}
    )
    wrong_code = await login_as(env, "clerk1", totp_code="123456")
    assert no_code.status == 401 and (await no_code.json())["error"]["code"] == "login_failed"
    assert wrong_code.status == 401
    both = await login_as(env, "clerk1", totp_code="123456", recovery_code="abcde-fghjk")
    assert both.status == 400 and (await both.json())["error"]["field"] == "totp_code"


async def test_five_wrong_codes_lock_the_account_like_wrong_passwords(env: Env) -> None:
    statuses = [(await login_as(env, "clerk1", totp_code="000000")).status for _ in range(5)]
    assert statuses == [401] * 5
    assert (await env.login()).status == 401  # locked: the right password and code do not open it
    rows = await env.core.db.fetchall(
        "SELECT result FROM audit_log WHERE action = 'staff_login' ORDER BY seq"
    )
    assert [r["result"] for r in rows][-6:] == ["denied_second_factor"] * 4 + ["locked", "refused_locked"]


async def test_recovery_codes_work_once_each(env: Env) -> None:
    admin = await a_new_account(env, "clerk2", ["registrar"])
    resp = await env.client.post(
        "/clerk/api/totp/enrol", json={"staff_id": "clerk2", "password": STAFF_PASSWORD}
    )
    device = Authenticator((await resp.json())["secret"])
    body = {"staff_id": "clerk2", "password": STAFF_PASSWORD, "totp_code": device.code()}
    codes = (await (await env.client.post("/clerk/api/totp/confirm", json=body)).json())["recovery_codes"]
    assert len(codes) == 10 and len(set(codes)) == 10
    assert (await login_as(env, "clerk2", recovery_code=codes[3])).status == 200
    assert (await login_as(env, "clerk2", recovery_code=codes[3])).status == 401  # spent
    assert (await login_as(env, "clerk1", recovery_code=codes[4])).status == 401  # not clerk1's
    listed = await (await env.client.get("/clerk/api/admin/staff", headers=admin)).json()
    assert {s["staff_id"]: s["recovery_codes_left"] for s in listed["staff"]}["clerk2"] == 9


async def test_enrolment_is_shown_once_and_confirmed_by_a_code(env: Env) -> None:
    await a_new_account(env, "clerk3", ["counter"])
    before = await login_as(env, "clerk3", totp_code="000000")
    assert before.status == 403 and (await before.json())["error"]["code"] == "totp_enrolment_required"
    early = {"staff_id": "clerk3", "password": STAFF_PASSWORD, "totp_code": "000000"}
    not_pending = await env.client.post("/clerk/api/totp/confirm", json=early)
    assert (await not_pending.json())["error"]["code"] == "totp_not_pending"
    resp = await env.client.post(
        "/clerk/api/totp/enrol", json={"staff_id": "clerk3", "password": STAFF_PASSWORD}
    )
    shown = await resp.json()
    assert shown["otpauth_uri"].startswith("otpauth://totp/") and shown["secret"] in shown["otpauth_uri"]
    assert (await env.client.post("/clerk/api/totp/confirm", json=early)).status == 401  # a wrong code
    device = Authenticator(shown["secret"])
    ok = await env.client.post("/clerk/api/totp/confirm", json={**early, "totp_code": device.code()})
    assert ok.status == 200
    again = await env.client.post(
        "/clerk/api/totp/enrol", json={"staff_id": "clerk3", "password": STAFF_PASSWORD}
    )
    assert again.status == 409 and (await again.json())["error"]["code"] == "totp_enrolled"
    assert (await login_as(env, "clerk3", totp_code=device.code())).status == 200
    row = await env.core.db.fetchone("SELECT totp_secret FROM staff WHERE staff_id = 'clerk3'")
    assert row is not None and shown["secret"] not in row["totp_secret"]  # sealed, not stored as shown
    assert second_factor.unseal(env.core.secrets.totp_key, "clerk3", row["totp_secret"]) == shown["secret"]


async def test_only_an_administrator_manages_staff(env: Env) -> None:
    new = {"staff_id": "x1", "display_name": "x", "roles": ["counter"]}
    resp = await env.client.post("/clerk/api/admin/staff", json=new, headers=env.clerk_headers)
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "role_required"


async def test_an_administrator_changes_roles_resets_and_deactivates(env: Env) -> None:
    admin = await env.add_staff("admin1", "admin")
    seed = second_factor.new_seed()
    clerk = await env.add_staff("clerk4", "registrar", seed=seed)
    resp = await env.client.patch(
        "/clerk/api/admin/staff/clerk4", json={"roles": ["counter", "bogus"]}, headers=admin
    )
    assert resp.status == 400 and (await resp.json())["error"]["field"] == "roles"
    resp = await env.client.patch(
        "/clerk/api/admin/staff/clerk4", json={"roles": ["counter", "mynumber"]}, headers=admin
    )
    assert (await resp.json())["pending_roles"] == ["counter", "mynumber"]  # a grant waits
    approver = await env.add_staff("admin2", "admin")
    assert (
        await env.client.post("/clerk/api/admin/staff/clerk4/approve", json={}, headers=approver)
    ).status == 200
    me = await (await env.client.get("/clerk/api/me", headers=clerk)).json()
    assert me["roles"] == ["counter", "mynumber"]  # the open session sees the new roles at once
    fewer = await env.client.patch(
        "/clerk/api/admin/staff/clerk4", json={"roles": ["counter"]}, headers=admin
    )
    assert (await fewer.json())["roles"] == ["counter"]  # taking a role away acts at once
    assert (await env.client.post("/clerk/api/admin/staff/clerk4/totp-reset", headers=admin)).status == 200
    assert (await env.client.get("/clerk/api/me", headers=clerk)).status == 401  # its sessions ended
    after = await login_as(env, "clerk4", totp_code=Authenticator(seed).code())
    assert (await after.json())["error"]["code"] == "totp_enrolment_required"
    resp = await env.client.patch("/clerk/api/admin/staff/clerk4", json={"active": False}, headers=admin)
    assert (await resp.json())["active"] is False
    assert (await login_as(env, "clerk4", totp_code="000000")).status == 401
    details = await env.core.db.fetchall(
        "SELECT action, actor_id FROM audit_log WHERE action IN ('staff_change', 'totp_reset') ORDER BY seq"
    )
    assert [(r["action"], r["actor_id"]) for r in details] == [
        ("staff_change", "admin1"), ("staff_change", "admin1"), ("totp_reset", "admin1"), ("staff_change", "admin1")
    ]  # fmt: skip


async def test_an_administrator_never_changes_their_own_account(env: Env) -> None:
    admin = await env.add_staff("admin1", "admin")
    for method, path, body in [
        ("PATCH", "", {"roles": ["admin", "mynumber"]}), ("PATCH", "", {"active": False}),
        ("POST", "/totp-reset", None), ("POST", "/password", {"password": "x" * 12}),
    ]:  # fmt: skip
        url = f"/clerk/api/admin/staff/admin1{path}"
        resp = await env.client.request(method, url, json=body, headers=admin)
        assert resp.status == 409 and (await resp.json())["error"]["code"] == "own_account", path
    row = await env.core.db.fetchone("SELECT roles, active FROM staff WHERE staff_id = 'admin1'")
    assert row is not None and (row["roles"], row["active"]) == ("admin", 1)


async def test_a_logout_ends_the_session(env: Env) -> None:
    resp = await env.client.post("/clerk/api/logout", headers=env.clerk_headers)
    assert resp.status == 200
    assert (await env.client.get("/clerk/api/me", headers=env.clerk_headers)).status == 401


async def test_a_new_account_waits_for_a_second_independent_administrator(env: Env) -> None:
    """M2: the asker cannot approve, nor an administrator account the asker made; the approver sets the
    temporary password."""
    asker = await env.add_staff("admin1", "admin")
    with_password = {"staff_id": "pal", "display_name": "x", "roles": ["admin"], "password": STAFF_PASSWORD}
    refused = await env.client.post("/clerk/api/admin/staff", json=with_password, headers=asker)
    assert refused.status == 400 and (await refused.json())["error"]["field"] == "password"
    del with_password["password"]
    assert (await env.client.post("/clerk/api/admin/staff", json=with_password, headers=asker)).status == 201
    assert (await login_as(env, "pal", totp_code="000000")).status == 401  # no usable password yet
    own = await env.client.post(
        "/clerk/api/admin/staff/pal/approve", json={"password": "p" * 12}, headers=asker
    )
    assert (await own.json())["error"]["code"] == "approver_is_requester"
    puppet = await env.add_staff("puppet", "admin")  # an administrator account admin1 made
    await env.core.db.execute("UPDATE staff SET created_by = 'admin1' WHERE staff_id = 'puppet'")
    by_puppet = await env.client.post(
        "/clerk/api/admin/staff/pal/approve", json={"password": "p" * 12}, headers=puppet
    )
    assert (await by_puppet.json())["error"]["code"] == "approver_made_by_requester"
    approver = await env.add_staff("admin2", "admin")
    no_password = await env.client.post("/clerk/api/admin/staff/pal/approve", json={}, headers=approver)
    assert (await no_password.json())["error"]["field"] == "password"
    ok = await env.client.post(
        "/clerk/api/admin/staff/pal/approve", json={"password": STAFF_PASSWORD}, headers=approver
    )
    assert (await ok.json())["roles"] == ["admin"]
    after = await login_as(env, "pal", totp_code="000000")
    assert (await after.json())["error"]["code"] == "totp_enrolment_required"  # the password works now
    refusals = await env.core.db.fetchall(
        "SELECT result FROM audit_log WHERE action = 'staff_approve' ORDER BY seq"
    )
    assert [r["result"] for r in refusals] == [
        "refused_approver_is_requester", "refused_approver_made_by_requester", "ok"
    ]  # fmt: skip


async def test_a_purge_is_not_approved_by_an_account_its_requester_made(env: Env) -> None:
    requester = await env.add_staff("ops1", "ops")
    puppet = await env.add_staff("puppet", "admin")
    await env.core.db.execute("UPDATE staff SET created_by = 'ops1' WHERE staff_id = 'puppet'")
    asked = await env.client.post(
        "/clerk/api/purges", json={"before": "2019-04-01", "reason": "past retention"}, headers=requester
    )
    assert asked.status == 201, await asked.text()
    approved = await env.client.post(
        f"/clerk/api/purges/{(await asked.json())['purge_id']}/approve", headers=puppet
    )
    assert approved.status == 409 and (await approved.json())["error"]["code"] == "approver_made_by_requester"
