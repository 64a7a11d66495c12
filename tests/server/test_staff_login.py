"""Staff login: a lockout after repeated failures that parallel guesses cannot outrun, lifted only by ops,
and the same argon2id work for an unknown id as for a real one."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.server.conftest import STAFF_PASSWORD, Env


async def login(env: Env, password: str, staff_id: str = "clerk1") -> int:
    """A login's status: with clerk1's next TOTP code for the right password, any code for a wrong one."""
    if password == STAFF_PASSWORD:
        return int((await env.login(staff_id, password)).status)
    return int((await env.login(staff_id, password, totp_code="000000")).status)


async def test_five_failures_lock_the_account_even_for_the_right_password(env: Env) -> None:
    assert [await login(env, f"wrong-{n}") for n in range(5)] == [401] * 5
    assert await login(env, STAFF_PASSWORD) == 401  # locked: the right password does not open it
    ops = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    resp = await env.client.post("/ops/api/staff/clerk1/unlock", headers=ops)
    assert resp.status == 200
    assert await login(env, STAFF_PASSWORD) == 200
    results = await env.core.db.fetchall(
        "SELECT result FROM audit_log WHERE action IN ('staff_login', 'staff_unlock') ORDER BY seq"
    )
    tail = [r["result"] for r in results][-8:]
    assert tail == ["denied"] * 4 + ["locked", "refused_locked", "ok", "ok"]


async def test_a_lockout_ends_after_its_time(env: Env) -> None:
    for n in range(5):
        await login(env, f"wrong-{n}")
    assert await login(env, STAFF_PASSWORD) == 401
    await env.core.db.execute(  # as if staff_lockout_s (15 minutes) had passed
        "UPDATE staff SET locked_at = '2000-01-01T00:00:00.000Z' WHERE staff_id = 'clerk1'"
    )
    assert await login(env, STAFF_PASSWORD) == 200


async def test_parallel_guesses_cannot_outrun_the_lockout(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str | None] = []
    real = env.core.hasher.verify_or_waste

    async def counting(context: str, stored: str | None, secret: str) -> bool:
        checked.append(stored)
        return await real(context, stored, secret)

    monkeypatch.setattr(env.core.hasher, "verify_or_waste", counting)
    statuses = await asyncio.gather(*(login(env, f"guess-{n}") for n in range(60)))
    assert set(statuses) == {401}
    assert sum(stored is not None for stored in checked) <= 5  # at most five real password checks
    assert await login(env, STAFF_PASSWORD) == 401


async def test_an_unknown_staff_id_costs_the_same_argon2id_work(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    verified: list[Any] = []
    real = env.core.hasher.verify

    async def counting(context: str, stored: str, secret: str) -> bool:
        verified.append(stored)
        return await real(context, stored, secret)

    monkeypatch.setattr(env.core.hasher, "verify", counting)
    assert await login(env, "whatever-password", staff_id="no-such-clerk") == 401
    assert await login(env, "wrong-password") == 401
    assert len(verified) == 2 and all(h.startswith("$argon2id$") for h in verified)
