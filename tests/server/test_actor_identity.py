"""Who did what, as the audit trail records it: staff ids and terminal names are checked, never stored as
the client sent them, and every row carries the address the request came from."""

from __future__ import annotations

import json

import pytest

from tests.server.conftest import STAFF_PASSWORD, Env


@pytest.mark.parametrize(
    ("body", "bad_field"),
    [
        ({"staff_id": "a\x00b\r\nX-Injected: 1"}, "staff_id"),
        ({"staff_id": "clerk1", "terminal": "desk-1\r\nX-Injected: 1"}, "terminal"),
        ({"staff_id": "clerk1", "terminal": "x" * 65}, "terminal"),
        ({"staff_id": "職員"}, "staff_id"),
    ],
)
async def test_control_characters_in_staff_id_or_terminal_are_refused(
    env: Env, body: dict[str, str], bad_field: str
) -> None:
    resp = await env.client.post(
        "/clerk/api/login", json={**body, "password": STAFF_PASSWORD, "totp_code": "1"}
    )
    error = (await resp.json())["error"]
    assert resp.status == 400 and error["code"] == "bad_field" and error["field"] == bad_field
    rows = await env.core.db.fetchall("SELECT actor_id, terminal FROM audit_log")
    assert all("\x00" not in r["actor_id"] and "\r" not in r["terminal"] for r in rows)


async def test_audit_rows_carry_the_peer_address_beside_the_terminal(env: Env) -> None:
    resp = await env.client.post(
        "/clerk/api/login",
        json={"staff_id": "clerk1", "password": STAFF_PASSWORD, "terminal": "desk-7",
              "totp_code": env.authenticator.code()},
    )  # fmt: skip
    assert resp.status == 200
    await env.open_session()
    rows = await env.core.db.fetchall(
        "SELECT action, terminal, details FROM audit_log WHERE action IN ('staff_login', 'session_open')"
        " ORDER BY seq DESC LIMIT 2"
    )
    by_action = {r["action"]: r for r in rows}
    assert by_action["staff_login"]["terminal"] == "desk-7"
    for row in rows:
        assert json.loads(row["details"])["peer"] == "127.0.0.1"
    verified = await (
        await env.client.get(
            "/ops/api/audit/verify", headers={"Authorization": f"Bearer {env.core.secrets.ops_token}"}
        )
    ).json()
    assert verified["intact"] is True
