"""Ops tokens for automation are named (the audit trail shows the name) and revocable, the first-start
token (``local``) included; the tokens themselves are shown once and kept only as hashes."""

from __future__ import annotations

from tests.server.conftest import Env


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
    local = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    made = await (await env.client.post("/ops/api/tokens", json={"name": "spare"}, headers=local)).json()
    spare = {"Authorization": f"Bearer {made['token']}"}
    itself = await env.client.delete("/ops/api/tokens/spare", headers=spare)
    assert itself.status == 409 and (await itself.json())["error"]["code"] == "own_token"
    assert (await env.client.delete("/ops/api/tokens/local", headers=spare)).status == 200
    assert (await env.client.get("/ops/api/status", headers=local)).status == 401
    bad = await env.client.post("/ops/api/tokens", json={"name": "Bad Name!"}, headers=spare)
    assert bad.status == 400 and (await bad.json())["error"]["field"] == "name"
