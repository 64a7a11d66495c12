"""Issue 30: kiosk sessions live in the database, so a second server on the same database (another node,
or this one restarted) serves any step of a session the first opened; the nonce is spent once whichever
is asked; expiry and the per-kiosk limits are the same for all."""

from __future__ import annotations

import asyncio

import pytest

from issuance_server.api_errors import ApiError
from issuance_server.kiosks.sessions import SessionStore
from tests.server.conftest import Env
from wire.kiosk_api import API_PREFIX


def another_node(env: Env) -> SessionStore:
    """The sessions as a second server on the same database sees them (nothing shared but the database)."""
    settings = env.settings
    return SessionStore(
        env.core.db,
        settings.nonce_ttl_s,
        settings.session_idle_s,
        settings.kiosk_max_open_sessions,
        settings.kiosk_session_opens_per_minute,
    )


async def test_a_session_opened_and_authenticated_here_is_served_by_another_node(env: Env) -> None:
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    seen = await another_node(env).get(session["session_id"], "kiosk-t1")
    assert seen.authenticated and seen.kiosk_id == "kiosk-t1"
    with pytest.raises(ApiError) as other_kiosk:
        await another_node(env).get(session["session_id"], "kiosk-t2")
    assert other_kiosk.value.code == "session_unknown"


async def test_the_nonce_is_spent_once_whichever_node_is_asked(env: Env) -> None:
    session = await env.open_session()
    nodes = [env.core.sessions, another_node(env), another_node(env)]
    seen = await asyncio.gather(
        *(n.get(session["session_id"], "kiosk-t1", spend_nonce=f"request-{i}") for i, n in enumerate(nodes))
    )
    assert sorted(s.nonce_used for s in seen) == [
        False,
        True,
        True,
    ]  # one spent it; the others found it spent
    url = f"{API_PREFIX}/sessions/{session['session_id']}/authenticate"
    replay = await env.kiosk.post(url, json=env.auth_body(session), headers=env.kiosk_headers)
    assert replay.status == 409 and (await replay.json())["error"]["code"] == "nonce_used"


async def test_an_ended_session_is_ended_for_every_node(env: Env) -> None:
    session = await env.open_session()
    assert (await env.kiosk.delete(f"{API_PREFIX}/sessions/{session['session_id']}")).status == 200
    with pytest.raises(ApiError) as ended:
        await another_node(env).get(session["session_id"], "kiosk-t1")
    assert ended.value.code == "session_unknown"


async def test_the_open_sessions_limit_counts_every_nodes_openings(env: Env) -> None:
    env.core.sessions.max_open = 2
    other = another_node(env)
    other.max_open = 2
    await env.open_session()
    await other.open("kiosk-t1", lambda tx, session_id: None)
    resp = await env.kiosk.post(f"{API_PREFIX}/sessions")
    assert resp.status == 429 and (await resp.json())["error"]["code"] == "too_many_sessions"


async def test_an_idle_session_expires_and_is_forgotten_later(env: Env) -> None:
    session = await env.open_session()
    env.later(env.settings.session_idle_s + 1)
    with pytest.raises(ApiError) as idle:
        await env.core.sessions.get(session["session_id"], "kiosk-t1")
    assert idle.value.code == "session_expired"
    assert session["session_id"] not in await env.core.db.read(env.core.sessions.live_ids)
    assert await env.core.db.write(env.core.sessions.forget_old) == 1
    with pytest.raises(ApiError) as gone:
        await env.core.sessions.get(session["session_id"], "kiosk-t1")
    assert gone.value.code == "session_unknown"
