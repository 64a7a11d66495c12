"""Issue 30: ops take a node out of the load balancer and back (``konbini-ops drain``): ``/healthz`` answers
503 ``draining`` meanwhile, so HAProxy sends it nothing new, while requests that reach it are still served."""

from __future__ import annotations

from tests.server.conftest import Env


def ops(env: Env) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.core.secrets.ops_token}"}


async def test_a_drained_node_says_so_to_the_load_balancer_and_still_serves_what_reaches_it(env: Env) -> None:
    assert (await env.client.get("/healthz")).status == 200
    resp = await env.client.post("/ops/api/drain", json={"draining": True}, headers=ops(env))
    assert resp.status == 200 and await resp.json() == {"draining": True, "changed": True}
    health = await env.client.get("/healthz")
    assert health.status == 503 and (await health.json())["status"] == "draining"
    status = await (await env.client.get("/ops/api/status", headers=ops(env))).json()
    assert status["draining"] is True
    session = await env.open_session()  # a request that still reaches it is served
    assert (await env.authenticate(session)).status == 200
    again = await env.client.post("/ops/api/drain", json={"draining": True}, headers=ops(env))
    assert await again.json() == {"draining": True, "changed": False}
    back = await env.client.post("/ops/api/drain", json={"draining": False}, headers=ops(env))
    assert await back.json() == {"draining": False, "changed": True}
    assert (await env.client.get("/healthz")).status == 200
    rows = await env.core.db.fetchall("SELECT result FROM audit_log WHERE action = 'node_drain' ORDER BY seq")
    assert [r["result"] for r in rows] == ["draining", "serving"]


async def test_drain_needs_ops_and_a_boolean(env: Env) -> None:
    assert (await env.client.post("/ops/api/drain", json={"draining": True})).status == 401
    bad = await env.client.post("/ops/api/drain", json={"draining": "yes"}, headers=ops(env))
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_field"
    kiosk = await env.kiosk.post("/ops/api/drain", json={"draining": True})
    assert kiosk.status in (401, 403) and not env.core.draining
