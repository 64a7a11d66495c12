"""Error messages repeat at most a short piece of what a request sent (issuance_server.api_errors.clip)."""

from __future__ import annotations

from typing import Any

import pytest

from issuance_server.api_errors import MESSAGE_CHARS
from tests.server.conftest import Env
from tests.server.test_issuance import authenticated_session, url

LONG = "x" * 10_000
LONG_PATH = "x" * 5_000  # a request line is at most 8 KB


async def refusal(env: Env, case: str) -> tuple[Any, str]:
    """The error ``case`` causes with a 10,000-character value (5,000 in a path): (the error, the value)."""
    if case in ("kind", "option"):
        session = await authenticated_session(env)
        body = {"kind": LONG} if case == "kind" else {"kind": "juminhyo", "options": [LONG]}
        resp = await env.kiosk.post(url(session, "/quotes"), json=body, headers=env.kiosk_headers)
    elif case in ("roles", "unknown_change"):
        admin = await env.add_staff("admin1", "admin")
        change: dict[str, Any] = {"roles": [LONG]} if case == "roles" else {LONG: 1}
        resp = await env.client.patch("/clerk/api/admin/staff/clerk1", json=change, headers=admin)
    elif case == "month":
        auditor = await env.add_staff("auditor1", "auditor")
        body = {"month": LONG, "comment": "checked"}
        resp = await env.client.post("/clerk/api/audit/reviews", json=body, headers=auditor)
    else:
        assert case == "unlock_staff_id"
        ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
        resp = await env.client.post(f"/ops/api/staff/{LONG_PATH}/unlock", headers=ops)
    assert 400 <= resp.status < 500, await resp.text()
    return (await resp.json())["error"], LONG_PATH if case == "unlock_staff_id" else LONG


@pytest.mark.parametrize("case", ["kind", "option", "roles", "unknown_change", "month", "unlock_staff_id"])
async def test_a_10000_character_value_is_echoed_in_under_200_characters(env: Env, case: str) -> None:
    error, value = await refusal(env, case)
    assert len(error["message"]) < 200 and "xxxxxxxx…" in error["message"], error["message"]
    assert all(value not in str(v) for v in error.values())


async def test_no_error_message_is_longer_than_the_backstop(env: Env) -> None:
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    resp = await env.client.get(f"/ops/api/audit/review?month={LONG_PATH}", headers=ops)
    assert resp.status == 400
    assert len((await resp.json())["error"]["message"]) <= MESSAGE_CHARS
