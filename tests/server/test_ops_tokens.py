"""Ops tokens for automation are named (the audit trail shows the name) and revocable, the first-start
token (``local``) included; the tokens themselves are shown once and kept only as hashes."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from issuance_server.app import make_app
from issuance_server.core import token_hash
from issuance_server.enrolment import ops_tokens
from issuance_server.enrolment.ops_tokens import finish_rotation
from issuance_server.storage.database import Database
from konbini_demo.connection_flood import other_address
from tests.server.conftest import Env
from wire.clock import utc_now


async def test_a_named_token_acts_under_its_name_until_revoked(env: Env) -> None:
    local = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    made = await (
        await env.client.post("/ops/api/tokens", json={"name": "nightly-check"}, headers=local)
    ).json()
    token = made["token"]
    nightly = {"Authorization": f"Bearer {token}"}
    assert (await env.client.get("/ops/api/status", headers=nightly)).status == 200
    rows = await env.core.db.fetchall("SELECT token_hash FROM ops_tokens")
    assert all(token not in r["token_hash"] for r in rows)  # kept as a hash only
    await env.client.post("/ops/api/tokens", json={"name": "nightly-check"}, headers=nightly)
    again = await env.client.post("/ops/api/tokens", json={"name": "nightly-check"}, headers=local)
    assert again.status == 409 and (await again.json())["error"]["code"] == "token_exists"
    actors = await env.core.db.fetchall("SELECT actor_id FROM audit_log WHERE action = 'ops_token_add'")
    assert [r["actor_id"] for r in actors] == ["token:local"]
    assert (await env.client.delete("/ops/api/tokens/nightly-check", headers=local)).status == 200
    refused = await env.client.get("/ops/api/status", headers=nightly)
    assert refused.status == 401
    listed = await (await env.client.get("/ops/api/tokens", headers=local)).json()
    assert {t["name"]: bool(t["revoked_at"]) for t in listed["tokens"]} == {
        "local": False,
        "nightly-check": True,
    }


async def test_the_first_start_token_is_revocable_too(env: Env) -> None:
    """Revoking ``local`` also ends the tokens made with it (they acted for it)."""
    local = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    by_local = await a_token_of(env, local, "by-local")
    made = await (
        await env.client.post(
            "/ops/api/tokens", json={"name": "spare"}, headers=await env.add_staff("o", "ops")
        )
    ).json()
    spare = {"Authorization": f"Bearer {made['token']}"}
    itself = await env.client.delete("/ops/api/tokens/spare", headers=spare)
    assert itself.status == 409 and (await itself.json())["error"]["code"] == "own_token"
    assert (await env.client.delete("/ops/api/tokens/local", headers=spare)).status == 200
    assert (await env.client.get("/ops/api/status", headers=local)).status == 401
    assert (await env.client.get("/ops/api/status", headers=by_local)).status == 401
    bad = await env.client.post("/ops/api/tokens", json={"name": "Bad Name!"}, headers=spare)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "name"


async def a_token_of(env: Env, maker: dict[str, str], name: str, **body: int) -> dict[str, str]:
    made = await env.client.post("/ops/api/tokens", json={"name": name, **body}, headers=maker)
    assert made.status == 201, await made.text()
    return {"Authorization": f"Bearer {(await made.json())['token']}"}


async def test_a_token_dies_with_its_makers_account_or_ops_role(env: Env) -> None:
    """H2: a token acts for its maker; deactivating the maker, or taking their ops role, ends it (and the
    tokens it made in turn)."""
    admin = await env.add_staff("admin1", "admin")
    for change, staff_id in (({"active": False}, "ops-a"), ({"roles": ["registrar"]}, "ops-b")):
        maker = await env.add_staff(staff_id, "ops")
        token = await a_token_of(env, maker, f"cron-{staff_id}")
        child = await a_token_of(env, token, f"child-{staff_id}")
        assert (await env.client.get("/ops/api/status", headers=child)).status == 200
        changed = await env.client.patch(f"/clerk/api/admin/staff/{staff_id}", json=change, headers=admin)
        assert changed.status == 200, await changed.text()
        for dead in (token, child):
            refused = await env.client.get("/ops/api/status", headers=dead)
            assert (refused.status, (await refused.json())["error"]["code"]) == (401, "ops_unauthorized")
    local = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    listed = await (await env.client.get("/ops/api/tokens", headers=local)).json()
    assert {t["name"]: t["works"] for t in listed["tokens"] if t["name"] != "local"} == {
        "cron-ops-a": False, "child-ops-a": False, "cron-ops-b": False, "child-ops-b": False,
    }  # fmt: skip


async def test_a_token_expires(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    local = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    too_long = await env.client.post("/ops/api/tokens", json={"name": "x", "days": 91}, headers=local)
    assert too_long.status == 400 and (await too_long.json())["error"]["field"] == "days"
    token = await a_token_of(env, local, "weekly", days=7)
    assert (await env.client.get("/ops/api/status", headers=token)).status == 200
    later = (utc_now() + timedelta(days=7, seconds=1)).isoformat().replace("+00:00", "Z")
    monkeypatch.setattr("issuance_server.enrolment.ops_tokens.utc_now_iso", lambda: later)
    assert (await env.client.get("/ops/api/status", headers=token)).status == 401
    assert (await env.client.get("/ops/api/status", headers=local)).status == 200  # local does not expire


async def test_the_local_token_works_only_from_the_server_machine(env: Env) -> None:
    local = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    for relayed in ({"X-Konbini-Proxy-Secret": "x"}, {"X-Forwarded-For": "203.0.113.9"}):
        refused = await env.client.get("/ops/api/status", headers={**local, **relayed})
        assert refused.status == 401 and "server machine" in (await refused.json())["error"]["message"]
    named = await a_token_of(env, local, "remote-ok")
    relayed_named = await env.client.get(
        "/ops/api/status", headers={**named, "X-Forwarded-For": "203.0.113.9"}
    )
    assert relayed_named.status == 200


async def test_the_local_token_is_refused_from_another_address(env: Env, aiohttp_client: Any) -> None:
    """A real connection from a non-loopback address of this machine to the server listening on it."""
    address = other_address()
    if address is None:
        pytest.skip("this machine has no address but loopback")
    server = TestServer(make_app(env.settings), host=address)
    client = await aiohttp_client(server)
    resp = await client.get(
        "/ops/api/status", headers={"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    )
    assert resp.status == 401


async def test_the_local_token_rotates(env: Env) -> None:
    old = env.core.secrets.ops_token
    path = env.settings.secrets_dir / "ops-token"
    rotated = await env.client.post(
        "/ops/api/tokens/local/rotate", headers={"Authorization": f"Bearer {old}"}
    )
    assert rotated.status == 200, await rotated.text()
    new = path.read_text().strip()
    assert new != old and path.stat().st_mode & 0o777 == 0o600
    assert (await env.client.get("/ops/api/status", headers={"Authorization": f"Bearer {old}"})).status == 401
    assert (await env.client.get("/ops/api/status", headers={"Authorization": f"Bearer {new}"})).status == 200
    relayed = await env.client.post(
        "/ops/api/tokens/local/rotate",
        headers={"Authorization": f"Bearer {new}", "X-Forwarded-For": "1.2.3.4"},
    )
    assert relayed.status == 401  # the local token itself is refused when relayed


async def test_a_rotation_cut_short_is_finished_at_the_next_start(env: Env) -> None:
    """The new token written beside the old file and recorded, then the process died before the rename."""
    pending = env.settings.secrets_dir / "ops-token.new"
    pending.write_text("the-new-local-token")
    assert await finish_rotation(env.core.db, env.settings.secrets_dir) is None  # not recorded: dropped
    assert not pending.exists()
    pending.write_text("the-new-local-token")
    await env.core.db.execute(
        "UPDATE ops_tokens SET token_hash = ? WHERE name = 'local'", (token_hash("the-new-local-token"),)
    )
    assert await finish_rotation(env.core.db, env.settings.secrets_dir) == "the-new-local-token"
    assert (env.settings.secrets_dir / "ops-token").read_text() == "the-new-local-token"


async def test_rotations_at_the_same_moment_leave_the_file_and_the_server_agreeing(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review finding: two rotations at once could leave the file on one token and the database on another."""
    old = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    real, arrived, all_in = ops_tokens.name_of, [0], asyncio.Event()

    async def together(db: Database, token: str) -> str | None:
        name = await real(db, token)
        arrived[0] += 1
        if arrived[0] == 3:
            all_in.set()
        await all_in.wait()  # the three are let in with the old token before any rotates: the same moment
        return name

    monkeypatch.setattr(ops_tokens, "name_of", together)
    answers = await asyncio.gather(
        *(env.client.post("/ops/api/tokens/local/rotate", headers=old) for _ in range(3))
    )
    assert [a.status for a in answers] == [200] * 3  # each one in turn, none cut short
    new = (env.settings.secrets_dir / "ops-token").read_text().strip()
    assert (await env.client.get("/ops/api/status", headers={"Authorization": f"Bearer {new}"})).status == 200
