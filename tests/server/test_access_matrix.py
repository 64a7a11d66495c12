"""Every route declares who may call it, and one middleware enforces it: the whole matrix of routes x
identities (no one, a kiosk, a staff member of each role, the ops credential), deny by default."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from issuance_server.access import Rule, rule_of
from tests.server.conftest import Env
from wire.roles import ROLES

AUTH_CODES = {"kiosk_unauthorized", "staff_unauthorized", "role_required", "ops_unauthorized"}
PARAMS = {
    "session_id": "no-such-session",
    "serial": "20261130-999999",
    "action": "unlock",
    "record": "KB1.x.y",
    "kiosk_id": "kiosk-none",
    "staff_id": "nobody-here",
    "purge_id": "999",
    "name": "no-such-token",
    "atena_no": "0000000101",
}


SKIP_WHEN_ALLOWED = {  # would start a sync, end the identity's own session or change its token, for real
    ("POST", "/ops/api/sync/full"),
    ("POST", "/clerk/api/logout"),
    ("POST", "/ops/api/tokens/local/rotate"),
}


def routes(app: web.Application) -> list[tuple[str, str, Rule | None]]:
    """(method, path with sample parameters, rule) of every route of the app and its sub-apps."""
    out = []
    for resource in app.router.resources():
        info = resource.get_info()
        if "app" in info:
            out += routes(info["app"])
            continue
        path = info.get("path") or info.get("formatter", "")
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", lambda m: PARAMS[m[1]], path)
        out += [(r.method, path, rule_of(r.handler)) for r in resource if r.method != "HEAD"]
    return out


async def identities(env: Env) -> dict[str, tuple[TestClient, dict[str, str]]]:
    """Who knocks (the client, with or without the kiosk's TLS certificate, and the headers): no one, a
    kiosk, a staff member holding each single role, ops."""
    who: dict[str, dict[str, str]] = {"nobody": {}}
    for role in ROLES:
        who[f"staff:{role}"] = await env.add_staff(f"only-{role}", role)
    who["ops"] = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    who["bad token"] = {"Authorization": "Bearer é-not-ascii", "X-Kiosk-Id": "kiosk-t1"}
    who.update(await dead_tokens(env, who["ops"]))
    return {**{name: (env.client, h) for name, h in who.items()}, "kiosk": (env.kiosk, env.kiosk_headers)}


DEAD_TOKENS = (
    "token of a deactivated maker",
    "token of a maker without ops",
    "expired token",
    "relayed local token",
)


async def dead_tokens(env: Env, local: dict[str, str]) -> dict[str, dict[str, str]]:
    """Ops tokens that must not work anywhere: made by a staff member since deactivated, or since stripped
    of the ops role; past their expiry; the server's own token relayed by a proxy."""
    out = {}
    for name, staff_id, change in (
        (DEAD_TOKENS[0], "gone-ops", "UPDATE staff SET active = 0 WHERE staff_id = ?"),
        (DEAD_TOKENS[1], "ex-ops", "UPDATE staff SET roles = 'registrar' WHERE staff_id = ?"),
        (DEAD_TOKENS[2], "old-ops", "UPDATE ops_tokens SET expires_at = '2026-01-01T00:00:00.000Z'"
         " WHERE created_by = ?"),
    ):  # fmt: skip
        maker = await env.add_staff(staff_id, "ops")
        made = await env.client.post("/ops/api/tokens", json={"name": staff_id}, headers=maker)
        out[name] = {"Authorization": f"Bearer {(await made.json())['token']}"}
        await env.core.db.execute(change, (staff_id,))
    out[DEAD_TOKENS[3]] = {**local, "X-Forwarded-For": "203.0.113.9"}
    return out


def allowed(rule: Rule, identity: str) -> bool:
    """Public routes to anyone; a route to its own identity; ops routes also to staff with the ops role."""
    if rule.who == "ops":  # ops routes: the ops token, staff holding ops, and staff holding the route's role
        return identity in ("ops", "staff:ops") or (
            rule.role is not None and identity == f"staff:{rule.role}"
        )
    if rule.who == "staff" and rule.role is None:  # any logged-in staff member
        return identity.startswith("staff:")
    if rule.who == "staff" and rule.role:  # whoever holds one of the route's roles
        return identity in {f"staff:{role}" for role in rule.role.split("|")}
    return rule.who == "public" or str(rule) == identity


async def test_every_route_declares_who_may_call_it(env: Env) -> None:
    table = routes(env.client.app)
    assert [(m, p) for m, p, rule in table if rule is None] == []
    public = {(m, p) for m, p, rule in table if rule is not None and rule.who == "public"}
    assert public == {  # anyone may call these, and nothing else
        ("GET", "/healthz"), ("GET", "/metrics"), ("GET", "/openapi.yaml"), ("POST", "/verify"),
        ("GET", "/verify"), ("GET", "/verify/KB1.x.y"), ("POST", "/clerk/api/login"),
        ("POST", "/clerk/api/totp/enrol"), ("POST", "/clerk/api/totp/confirm"),
    }  # fmt: skip
    for method, path, rule in table:
        assert rule is not None
        prefix = path.split("/")[1:3]
        expected = {"api": "kiosk", "ops": "ops", "clerk": "staff"}.get(prefix[0], "public")
        assert rule.who in (expected, "public"), (method, path, rule)


async def test_the_access_matrix(env: Env) -> None:
    who = await identities(env)
    wrong = []
    table = routes(env.client.app)
    assert {str(r) for _, _, r in table if r} >= {
        "public",
        "kiosk",
        "ops",
        "staff:registrar",
        "staff:counter",
    }
    for method, path, rule in table:
        assert rule is not None
        for identity, (client, headers) in who.items():
            if (method, path) in SKIP_WHEN_ALLOWED and allowed(rule, identity):
                continue  # would start a sync, or end the identity's own session, for real
            resp = await client.request(method, path, json={}, headers=headers)
            body = await resp.json() if resp.content_type == "application/json" else None
            err = body.get("error") if isinstance(body, dict) else None
            code = err.get("code") if isinstance(err, dict) else None
            refused = resp.status in (401, 403) and code in AUTH_CODES
            if refused == allowed(rule, identity) or resp.status == 500:
                wrong.append(f"{method} {path} as {identity}: {resp.status} {code} (rule {rule})")
    assert wrong == []


async def test_a_route_without_a_rule_is_refused(env: Env, aiohttp_client: Any) -> None:
    from issuance_server.access import access_middleware
    from issuance_server.api_errors import error_middleware

    async def forgotten(request: web.Request) -> web.Response:
        return web.Response(text="secret")

    app = web.Application(middlewares=[error_middleware, access_middleware({})])
    app.router.add_get("/forgotten", forgotten)
    client = await aiohttp_client(app)
    resp = await client.get("/forgotten")
    assert resp.status == 403 and (await resp.json())["error"]["code"] == "route_undeclared"


async def test_ops_staff_act_as_themselves(env: Env) -> None:
    who = await identities(env)
    client, headers = who["staff:ops"]
    resp = await client.post("/ops/api/mode", json={"mode": "maintenance", "reason": "test"}, headers=headers)
    assert resp.status == 200, await resp.text()
    row = await env.core.db.fetchone(
        "SELECT actor_kind, actor_id FROM audit_log WHERE action = 'mode_switch' ORDER BY seq DESC LIMIT 1"
    )
    assert row is not None and (row["actor_kind"], row["actor_id"]) == ("staff", "only-ops")
