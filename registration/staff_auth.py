"""Staff accounts and their sessions: argon2id passwords, bearer tokens, idle timeout, roles."""

from __future__ import annotations

import re
import secrets
from datetime import datetime

from aiohttp import web

from issuance_server.access import Rule
from issuance_server.api_errors import ApiError
from issuance_server.audit import Actor
from issuance_server.clock import utc_now, utc_now_iso
from issuance_server.core import ServerCore, core_of, token_hash
from issuance_server.secret_hashing import STAFF_PASSWORD

ROLES = ("registrar", "counter", "mynumber", "ops", "auditor")
STAFF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TERMINAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # a host name or address: no spaces, no controls


def check_staff_id(staff_id: str) -> str:
    if not STAFF_ID.fullmatch(staff_id):
        raise ValueError(
            "staff_id: 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return staff_id


def check_terminal(terminal: str) -> str:
    if not TERMINAL.fullmatch(terminal):
        raise ValueError("terminal: 1-64 ASCII letters, digits, '.', '_', ':' or '-' (a host name)")
    return terminal


IDLE_TIMEOUT_S = 15 * 60
STAFF_ROLES: web.RequestKey[frozenset[str]] = web.RequestKey(
    "staff_roles", frozenset
)  # the seed's screen-saver rule: idle sessions end


async def login(core: ServerCore, staff_id: str, password: str, terminal: str, peer: str) -> str:
    row = await core.db.fetchone("SELECT password_hash, active FROM staff WHERE staff_id = ?", (staff_id,))
    actor = Actor("staff", staff_id, terminal, peer)
    ok = (
        row is not None
        and bool(row["active"])
        and await core.hasher.verify(STAFF_PASSWORD, row["password_hash"], password)
    )
    if not ok:
        await core.audit.append(actor, "staff_login", "denied")
        raise ApiError(401, "login_failed", "wrong staff id or password")
    token = secrets.token_urlsafe(32)
    now = utc_now_iso()
    async with core.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, terminal, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
            (token_hash(token), staff_id, terminal, now, now),
        )
        await core.audit.append_in(tx, actor, "staff_login", "ok")
    return token


async def authenticate_staff(request: web.Request, rule: Rule) -> Actor:
    """The access middleware's authenticator for staff routes: a logged-in staff member behind the
    request's bearer token, who holds the route's role."""
    role = str(rule.role)
    core = core_of(request)
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    row = (
        await core.db.fetchone(
            "SELECT s.staff_id, s.terminal, s.last_seen_at, t.roles FROM staff_sessions s"
            " JOIN staff t USING (staff_id) WHERE s.token_hash = ? AND t.active = 1",
            (token_hash(token),),
        )
        if token
        else None
    )
    if row is None:
        raise ApiError(401, "staff_unauthorized", "log in first")
    idle = (utc_now() - datetime.fromisoformat(row["last_seen_at"].replace("Z", "+00:00"))).total_seconds()
    if idle > IDLE_TIMEOUT_S:
        await core.db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash(token),))
        raise ApiError(401, "staff_session_expired", "the session ended after idle time; log in again")
    if role not in row["roles"].split(","):
        raise ApiError(403, "role_required", f"this needs the '{role}' role")
    await core.db.execute(
        "UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?", (utc_now_iso(), token_hash(token))
    )
    request[STAFF_ROLES] = frozenset(row["roles"].split(","))
    return Actor("staff", row["staff_id"], row["terminal"], request.remote or "")
