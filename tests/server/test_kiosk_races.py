"""Races between a kiosk's step and what happens meanwhile, decided on the database's writer."""

from __future__ import annotations

from typing import Any

import pytest

from issuance_server.kiosks import api
from tests.server.conftest import Env
from tests.server.test_issuance import authenticated_session, url


async def test_an_issue_that_arrives_as_its_session_ends_is_refused_not_issued(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await authenticated_session(env)
    quote = await env.kiosk.post(
        url(session, "/quotes"), json={"kind": "juminhyo"}, headers=env.kiosk_headers
    )
    quote_id = (await quote.json())["quote_id"]
    read_json = api.read_json

    async def read_then_end(request: Any, limit: int) -> Any:
        """The issue has found its session; the kiosk ends it before the issue claims the quote."""
        data = await read_json(request, limit)
        ended = await env.kiosk.delete(url(session, ""), headers=env.kiosk_headers)
        assert ended.status == 200
        return data

    monkeypatch.setattr(api, "read_json", read_then_end)
    resp = await env.kiosk.post(
        url(session, "/certificates"),
        json={"quote_id": quote_id, "payment_reference": "pay-1"},
        headers=env.kiosk_headers,
    )
    assert resp.status == 404 and (await resp.json())["error"]["code"] == "session_unknown"
    issued = await env.core.db.fetchall(
        "SELECT serial FROM issuances WHERE session_id = ?", (session["session_id"],)
    )
    assert issued == []
    payment = await env.core.db.fetchone(
        "SELECT status, payment_reference FROM kiosk_payments WHERE quote_id = ?", (quote_id,)
    )
    assert payment is not None and (payment["status"], payment["payment_reference"]) == ("quoted", None)


async def test_a_right_pin_for_a_card_bound_again_meanwhile_does_not_authenticate(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = await env.open_session()
    verify = env.core.hasher.verify

    async def verify_then_rebind(context: str, stored_hash: str, secret: str) -> bool:
        """While the PIN is checked, the desk revokes the card and binds it to another resident."""
        right = await verify(context, stored_hash, secret)
        await env.core.db.execute(
            "UPDATE registrations SET atena_no = '0000000102', pin_hash = 'another' WHERE atena_no = '0000000101'"
        )
        return right

    monkeypatch.setattr(env.core.hasher, "verify", verify_then_rebind)
    resp = await env.authenticate(session)
    assert resp.status == 403, await resp.text()
    menu = await env.kiosk.get(url(session, "/menu"), headers=env.kiosk_headers)
    assert menu.status == 401  # not authenticated as anyone
