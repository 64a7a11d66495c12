"""Staff accounts and their sessions: argon2id passwords, bearer tokens, idle timeout, roles."""

from __future__ import annotations

import re
import secrets
from datetime import datetime, timedelta

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
    """A session token, or 401 ``login_failed`` alike for an unknown id, a wrong password and a locked
    account (argon2id runs in each case, so the time does not tell them apart either). Each attempt is
    counted before the password is checked, so parallel guesses cannot pass ``staff_max_failures``; the
    account then stays locked for ``staff_lockout_s`` or until ops lift it (:func:`lift_lockout`)."""
    actor = Actor("staff", staff_id, terminal, peer)
    limit = core.settings.staff_max_failures
    since = utc_now() - timedelta(seconds=core.settings.staff_lockout_s)
    expired = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # as utc_now_iso writes it
    async with core.db.transaction() as tx:
        await tx.execute(  # a lockout that has run its time ends: the count starts again
            "UPDATE staff SET locked_at = NULL, failed_logins = 0 WHERE staff_id = ? AND locked_at < ?",
            (staff_id, expired),
        )
        row = await tx.fetchone(
            "UPDATE staff SET failed_logins = failed_logins + 1 WHERE staff_id = ? AND active = 1"
            " RETURNING password_hash, failed_logins, locked_at",
            (staff_id,),
        )
    open_account = row is not None and row["locked_at"] is None and row["failed_logins"] <= limit
    stored = row["password_hash"] if open_account and row is not None else None
    if not await core.hasher.verify_or_waste(STAFF_PASSWORD, stored, password):
        result = "denied"
        if row is not None and row["locked_at"] is None and row["failed_logins"] >= limit:
            async with core.db.transaction() as tx:
                await tx.execute(
                    "UPDATE staff SET locked_at = ? WHERE staff_id = ? AND locked_at IS NULL",
                    (utc_now_iso(), staff_id),
                )
            result = "locked"
        elif row is not None and row["locked_at"] is not None:
            result = "refused_locked"
        await core.audit.append(actor, "staff_login", result)
        raise ApiError(
            401,
            "login_failed",
            f"wrong staff id or password, or the account is locked after {limit} failures in a row (for"
            f" {core.settings.staff_lockout_s // 60} minutes, or until ops lift it)",
        )
    token = secrets.token_urlsafe(32)
    now = utc_now_iso()
    async with core.db.transaction() as tx:
        await tx.execute("UPDATE staff SET failed_logins = 0 WHERE staff_id = ?", (staff_id,))
        await tx.execute(
            "INSERT INTO staff_sessions (token_hash, staff_id, terminal, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
            (token_hash(token), staff_id, terminal, now, now),
        )
        await core.audit.append_in(tx, actor, "staff_login", "ok")
    return token


async def lift_lockout(core: ServerCore, actor: Actor, staff_id: str) -> bool:
    """Unlock a staff account (and clear its failures); False when no such account is locked."""
    async with core.db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE staff SET locked_at = NULL, failed_logins = 0 WHERE staff_id = ? AND locked_at IS NOT NULL",
            (staff_id,),
        )
        if changed:
            await core.audit.append_in(tx, actor, "staff_unlock", "ok", None, staff_id=staff_id)
    return bool(changed)


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
