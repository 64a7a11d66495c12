"""Staff login: a lockout after repeated failures that parallel guesses cannot outrun (and that the monthly
review counts once), lifted only by ops, the same argon2id work for an unknown id as for a real one, a
bearer token that is not UTF-8 refused like any wrong one, and a session's 12-hour limit."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from multidict import CIMultiDict

from issuance_server.audit.review import ReviewRules, review
from tests.server.conftest import STAFF_PASSWORD, Env
from wire.clock import to_iso, utc_now
from wire.tls import client_context


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


async def test_a_bearer_token_that_is_not_utf8_is_refused_401_not_500(env: Env) -> None:
    host, port = env.client.server.host, env.client.server.port
    context = client_context(env.core.tls.city_ca_path)
    for path, code in (("/clerk/api/me", "staff_unauthorized"), ("/ops/api/status", "ops_unauthorized")):
        reader, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname="localhost")
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n".encode())
        writer.write(b"Authorization: Bearer \xff\xfe\r\n\r\n")  # a byte aiohttp keeps as a lone surrogate
        head, _, body = (await asyncio.wait_for(reader.read(), timeout=10)).partition(b"\r\n\r\n")
        writer.close()
        assert head.split()[1] == b"401" and json.loads(body)["error"]["code"] == code, (path, head, body)


async def test_parallel_guesses_are_one_lockout_in_the_monthly_review(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("issuance_server.audit.trail.utc_now_iso", lambda: "2026-11-10T01:00:00.000Z")
    guesses, arrived, all_counted = 12, [0], asyncio.Event()
    real = env.core.hasher.verify_or_waste

    async def together(context: str, stored: str | None, secret: str) -> bool:
        arrived[0] += 1
        if arrived[0] == guesses:
            all_counted.set()
        await all_counted.wait()  # every guess is counted before any is refused: the pen test's race
        return await real(context, stored, secret)

    monkeypatch.setattr(env.core.hasher, "verify_or_waste", together)
    assert set(await asyncio.gather(*(login(env, f"guess-{n}") for n in range(guesses)))) == {401}
    rows = await env.core.db.fetchall(
        "SELECT seq, at, actor_kind, actor_id, action, result, details FROM audit_log"
    )
    figures = review([dict(r) for r in rows], "2026-11", ReviewRules.from_settings(env.settings))
    assert figures["failed_logins"]["total"] == guesses
    assert figures["failed_logins"]["lockouts"] == 1


class SessionClock:
    """The staff session's clock (issuance_server.staff.auth's), moved on by hand."""

    def __init__(self) -> None:
        self.at = utc_now()

    def now(self) -> datetime:
        return self.at

    def iso(self) -> str:
        return to_iso(self.at)


async def test_a_staff_session_ends_12_hours_after_login_however_active(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = SessionClock()
    monkeypatch.setattr("issuance_server.staff.auth.utc_now", clock.now)
    monkeypatch.setattr("issuance_server.staff.auth.utc_now_iso", clock.iso)
    resp = await env.login()
    assert resp.status == 200
    headers = {"Authorization": f"Bearer {(await resp.json())['token']}"}
    for _ in range(12 * 6 - 1):  # a request every 10 minutes: never idle, up to 11 h 50 min
        clock.at += timedelta(minutes=10)
        assert (await env.client.get("/clerk/api/me", headers=headers)).status == 200
    clock.at += timedelta(minutes=10, seconds=1)
    resp = await env.client.get("/clerk/api/me", headers=headers)
    assert resp.status == 401 and (await resp.json())["error"]["code"] == "staff_session_expired"
    assert (await env.client.get("/clerk/api/me", headers=headers)).status == 401  # and it is gone


def through_the_proxy(env: Env, address: str) -> dict[str, str]:
    """A request relayed by the city's TLS proxy for a desk at ``address`` (the proxy's secret beside it)."""
    return {
        "X-Konbini-Proxy-Secret": env.core.secrets.proxy_secret,
        "X-Forwarded-For": f"10.9.9.9, {address}",
    }


async def test_one_address_cannot_lock_an_account(env: Env) -> None:
    """L2: after staff_source_max_failures (4) the address waits 429, before the account's limit (5)."""
    wrong = {"staff_id": "clerk1", "password": "wrong-password-1", "totp_code": "000000"}
    statuses = []
    for _ in range(6):
        resp = await env.client.post(
            "/clerk/api/login", json=wrong, headers=through_the_proxy(env, "203.0.113.7")
        )
        statuses.append(resp.status)
    assert statuses == [401, 401, 401, 401, 429, 429]
    assert resp.headers["Retry-After"].isdigit() and (await resp.json())["error"]["code"] == "login_throttled"
    row = await env.core.db.fetchone("SELECT failed_logins, locked_at FROM staff WHERE staff_id = 'clerk1'")
    assert row is not None and (row["failed_logins"], row["locked_at"]) == (4, None)  # not locked
    elsewhere = await env.client.post(
        "/clerk/api/login",
        json={"staff_id": "clerk1", "password": STAFF_PASSWORD, "totp_code": env.authenticator.code()},
        headers=through_the_proxy(env, "198.51.100.20"),
    )
    assert elsewhere.status == 200  # the clerk at their own desk logs in
    alerts = await env.core.db.fetchall("SELECT details FROM audit_log WHERE action = 'login_throttle'")
    assert len(alerts) == 1 and '"peer": "203.0.113.7"' in alerts[0]["details"]


async def test_a_forwarded_address_without_the_proxy_secret_is_not_believed(env: Env) -> None:
    forged = {"X-Forwarded-For": "203.0.113.8", "X-Konbini-Proxy-Secret": "not-it"}
    await env.client.post(
        "/clerk/api/login", json={"staff_id": "clerk1", "password": "x" * 12}, headers=forged
    )
    row = await env.core.db.fetchone(
        "SELECT details FROM audit_log WHERE action = 'staff_login' ORDER BY seq DESC"
    )
    assert row is not None and '"peer": "127.0.0.1"' in row["details"]


async def test_parallel_wrong_logins_from_one_address_cannot_lock_an_account(env: Env) -> None:
    """Review finding: attempts are counted against the address before they are checked."""
    wrong = {"staff_id": "clerk1", "password": "wrong-password-1", "totp_code": "000000"}
    answers = await asyncio.gather(*(
        env.client.post("/clerk/api/login", json=wrong, headers=through_the_proxy(env, "203.0.113.9"))
        for _ in range(8)
    ))  # fmt: skip
    assert sorted(a.status for a in answers) == [401] * 4 + [429] * 4
    row = await env.core.db.fetchone("SELECT failed_logins, locked_at FROM staff WHERE staff_id = 'clerk1'")
    assert row is not None and row["locked_at"] is None and row["failed_logins"] == 4


async def test_a_forwarded_address_the_client_sent_before_the_proxys_is_not_believed(env: Env) -> None:
    """Review finding: HAProxy adds its X-Forwarded-For line after any the client sent; the last one counts."""
    headers = CIMultiDict([("X-Konbini-Proxy-Secret", env.core.secrets.proxy_secret),
                           ("X-Forwarded-For", "127.0.0.1"), ("X-Forwarded-For", "203.0.113.10")])  # fmt: skip
    await env.client.post(
        "/clerk/api/login", json={"staff_id": "clerk1", "password": "x" * 12}, headers=headers
    )
    row = await env.core.db.fetchone(
        "SELECT details FROM audit_log WHERE action = 'staff_login' ORDER BY seq DESC"
    )
    assert row is not None and '"peer": "203.0.113.10"' in row["details"]
