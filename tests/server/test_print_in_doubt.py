"""A print in doubt: the kiosk's printer had the job and stopped answering. The server keeps the certificate
(neither the session's end nor the sweep voids it) and the fee, until the kiosk reports what came out, after
its session if need be; then printed (kept) or voided and refunded once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from issuance_server.audit.trail import SYSTEM
from issuance_server.issuing.documents import void_unprinted
from issuance_server.storage.engine import Tx
from tests.server.conftest import Env
from tests.server.test_payments import payment_row, url
from tests.server.test_print_guard_report import audit_rows, issued_serial, report
from wire.kiosk_api import API_PREFIX


async def after_session(env: Env, serial: str, body: dict[str, Any]) -> Any:
    return await env.kiosk.post(
        f"{API_PREFIX}/certificates/{serial}/print-report", json=body, headers=env.kiosk_headers
    )


async def status(env: Env, serial: str) -> str:
    row = await env.core.db.fetchone("SELECT status FROM issuances WHERE serial = ?", (serial,))
    assert row is not None
    return str(row["status"])


async def ops_status(env: Env) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {env.core.secrets.ops_token}"}
    return dict(await (await env.client.get("/ops/api/status", headers=headers)).json())


async def sweep_everything(env: Env) -> int:
    def sweep(tx: Tx) -> int:
        return void_unprinted(tx, env.core.audit, SYSTEM, "test", issued_before="9999-12-31T00:00:00Z")

    return int(await env.core.db.write(sweep))


@pytest.mark.parametrize(("came_out", "refund"), [(True, 0), (False, 200)])
async def test_a_print_in_doubt_outlives_its_session_and_the_sweep_until_the_kiosk_says(
    env: Env, came_out: bool, refund: int
) -> None:
    session, serial, q = await issued_serial(env, f"dev-doubt-{came_out}")
    marked = await report(env, session, serial, {"printed": False, "in_doubt": True})
    assert marked.status == 200, await marked.text()
    assert (await marked.json())["status"] == "in_doubt"
    again = await report(env, session, serial, {"printed": False, "in_doubt": True})
    assert (await again.json())["status"] == "in_doubt"  # its answer was lost: the same, nothing more
    ended = await env.kiosk.delete(url(session, ""), headers=env.kiosk_headers)
    assert ended.status == 200 and await sweep_everything(env) == 0
    assert (await ops_status(env))["prints_in_doubt"]["count"] == 1
    assert (
        await status(env, serial) == "issued" and (await payment_row(env, q["quote_id"]))["refunded_yen"] == 0
    )
    final = await after_session(env, serial, {"printed": came_out})
    assert final.status == 200, await final.text()
    answer = await final.json()
    assert answer["status"] == ("printed" if came_out else "voided")
    assert (
        answer["payment"]["refunded_yen"] == refund == (await payment_row(env, q["quote_id"]))["refunded_yen"]
    )
    repeated = await after_session(env, serial, {"printed": came_out})
    assert await repeated.json() == answer
    assert (await ops_status(env))["prints_in_doubt"] == {"count": 0, "oldest_since": None}
    results = [r["result"] for r in await audit_rows(env, "print_report")]
    assert results == ["in_doubt", "printed" if came_out else "voided"]
    assert all("name" not in json.loads(r["details"]) for r in await audit_rows(env, "print_report"))


async def test_a_kiosk_that_restarted_marks_a_doubt_without_its_session(env: Env) -> None:
    _session, serial, _q = await issued_serial(env, "dev-doubt-restart")
    marked = await after_session(env, serial, {"printed": False, "in_doubt": True})
    assert (await marked.json())["status"] == "in_doubt" and await sweep_everything(env) == 0


async def test_only_a_print_in_doubt_is_reported_outside_its_session(env: Env) -> None:
    _session, serial, q = await issued_serial(env, "dev-doubt-not")
    resp = await after_session(env, serial, {"printed": False})
    assert resp.status == 409 and (await resp.json())["error"]["code"] == "session_state"
    assert (
        await status(env, serial) == "issued" and (await payment_row(env, q["quote_id"]))["refunded_yen"] == 0
    )
    unknown = await after_session(env, "K-0000-0000", {"printed": True})
    assert unknown.status == 404 and (await unknown.json())["error"]["code"] == "issuance_unknown"


@pytest.mark.parametrize(
    "body",
    [
        {"printed": True, "in_doubt": True},
        {"printed": False, "in_doubt": "yes"},
        {"printed": False, "in_doubt": True, "guard": {"finding": "wrong_serial"}},
    ],
    ids=["printed_and_in_doubt", "not_a_boolean", "stopped_and_in_doubt"],
)
async def test_a_malformed_doubt_is_refused_and_changes_nothing(env: Env, body: dict[str, Any]) -> None:
    session, serial, _q = await issued_serial(env, "dev-doubt-bad")
    for resp in (await report(env, session, serial, body), await after_session(env, serial, body)):
        assert resp.status == 400 and (await resp.json())["error"]["code"] == "bad_field"
    assert await status(env, serial) == "issued" and await audit_rows(env, "print_report") == []


async def test_ops_status_says_how_many_prints_are_in_doubt_and_whether_the_clock_stepped(
    env: Env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from recovery import cli

    _session, serial, _q = await issued_serial(env, "dev-doubt-status")
    await after_session(env, serial, {"printed": False, "in_doubt": True})
    status = {**await ops_status(env), "clock_step_s": 3600.0}  # as a node whose clock stepped an hour

    class Answers:
        def call(self, method: str, path: str) -> dict[str, Any]:
            return status

    monkeypatch.setattr(cli, "_client", lambda args: Answers())
    assert cli.cmd_status(argparse.Namespace(json=False)) == 0
    out = capsys.readouterr().out
    assert (
        "prints in doubt 1 (the oldest since " in out and "stepped +3600.0 s since this node started" in out
    )
