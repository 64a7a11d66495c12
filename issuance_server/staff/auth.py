"""Staff accounts and their sessions: argon2id passwords, bearer tokens, idle timeout, roles."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NoReturn

import aiosqlite
from aiohttp import web

from issuance_server.access import Rule
from issuance_server.api_errors import ApiError, clip
from issuance_server.audit.trail import Actor
from issuance_server.core import ServerCore, core_of, token_hash
from issuance_server.secret_hashing import STAFF_PASSWORD
from issuance_server.server_tls import client_address
from issuance_server.staff import second_factor
from issuance_server.storage.database import Transaction
from wire.clock import utc_now, utc_now_iso

log = logging.getLogger("konbini.staff")
STAFF_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
TERMINAL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")  # a host name or address: no spaces, no controls


RESERVED_IDS = frozenset({"server", "bootstrap", "system", "konbini-server"})  # who the server itself acts as


def check_staff_id(staff_id: str) -> str:
    if not STAFF_ID.fullmatch(staff_id):
        raise ValueError(
            "staff_id: 1-64 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    if staff_id.lower() in RESERVED_IDS:
        raise ValueError(f"staff_id: {staff_id} is reserved for the server itself; choose another")
    return staff_id


def check_terminal(terminal: str) -> str:
    if not TERMINAL.fullmatch(terminal):
        raise ValueError("terminal: 1-64 ASCII letters, digits, '.', '_', ':' or '-' (a host name)")
    return terminal


IDLE_TIMEOUT_S = 15 * 60
STAFF_TOKEN: web.RequestKey[str] = web.RequestKey("staff_token", str)  # the session's token hash
STAFF_ROLES: web.RequestKey[frozenset[str]] = web.RequestKey(
    "staff_roles", frozenset
)  # the seed's screen-saver rule: idle sessions end


@dataclass(frozen=True)
class SecondFactor:
    """What a login offers besides the password: a TOTP code or one of the recovery codes."""

    totp_code: str = ""
    recovery_code: str = ""


def _login_failed(core: ServerCore) -> ApiError:
    limit = core.settings.staff_max_failures
    return ApiError(
        401,
        "login_failed",
        f"wrong staff id, password or code, or the account is locked after {limit} failures in a row (for"
        f" {core.settings.staff_lockout_s // 60} minutes, or until ops or an administrator lift it)",
    )


async def _refuse(core: ServerCore, actor: Actor, row: aiosqlite.Row | None, result: str) -> NoReturn:
    """Audit a failed attempt and refuse it. The attempt that locks the account is audited ``locked``, once
    a lockout: parallel attempts that read the row before it was locked are ``refused_locked`` like the
    ones after (the monthly review counts ``locked`` rows as lockouts)."""
    if row is not None and row["failed_logins"] >= core.settings.staff_max_failures:
        locked = row["locked_at"] is None and await core.db.execute(
            "UPDATE staff SET locked_at = ? WHERE staff_id = ? AND locked_at IS NULL",
            (utc_now_iso(), actor.actor_id),
        )
        result = "locked" if locked else "refused_locked"
        if locked:  # the alert: an account locked (ops or an administrator lift it)
            log.warning(
                "staff account %s locked after %d failed logins in a row (the last from %s)",
                actor.actor_id, core.settings.staff_max_failures, actor.peer,
            )  # fmt: skip
    elif row is not None and row["locked_at"] is not None:
        result = "refused_locked"
    await core.audit.append(actor, "staff_login", result)
    raise _login_failed(core)


async def check_password(core: ServerCore, actor: Actor, password: str) -> aiosqlite.Row:
    """The staff row when ``password`` is right, else 401 ``login_failed`` alike for an unknown id, a wrong
    password and a locked account (argon2id runs in each case, so the time does not tell them apart
    either). Each attempt is counted before the password is checked, so parallel guesses cannot pass
    ``staff_max_failures``; the account then stays locked for ``staff_lockout_s`` or until it is lifted
    (:func:`lift_lockout`). A wrong second factor counts the same (:func:`login`)."""
    limit = core.settings.staff_max_failures
    since = utc_now() - timedelta(seconds=core.settings.staff_lockout_s)
    expired = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # as utc_now_iso writes it
    async with core.db.transaction() as tx:
        await tx.execute(  # a lockout that has run its time ends: the count starts again
            "UPDATE staff SET locked_at = NULL, failed_logins = 0 WHERE staff_id = ? AND locked_at < ?",
            (actor.actor_id, expired),
        )
        row = await tx.fetchone(
            "UPDATE staff SET failed_logins = failed_logins + 1 WHERE staff_id = ? AND active = 1"
            " RETURNING password_hash, failed_logins, locked_at, totp_secret, totp_pending",
            (actor.actor_id,),
        )
    open_account = row is not None and row["locked_at"] is None and row["failed_logins"] <= limit
    stored = row["password_hash"] if open_account and row is not None else None
    if not await core.hasher.verify_or_waste(STAFF_PASSWORD, stored, password):
        await _refuse(core, actor, row, "denied")
    assert row is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    return row


async def open_session(tx: Transaction, actor: Actor) -> str:
    """A new session token for a staff member who has passed both factors (their failures cleared)."""
    token = secrets.token_urlsafe(32)
    now = utc_now_iso()
    await tx.execute("UPDATE staff SET failed_logins = 0 WHERE staff_id = ?", (actor.actor_id,))
    await tx.execute(
        "INSERT INTO staff_sessions (token_hash, staff_id, terminal, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?)",
        (token_hash(token), actor.actor_id, actor.terminal, now, now),
    )
    return token


async def login(core: ServerCore, actor: Actor, password: str, second: SecondFactor) -> str:
    """A session token after the password and the second factor (a TOTP code used once, or a recovery
    code); a staff member without a second factor yet gets 403 ``totp_enrolment_required`` (a code is then
    not needed: the first login starts the enrolment)."""
    row = await check_password(core, actor, password)
    if row["totp_secret"] is None:
        await core.db.execute("UPDATE staff SET failed_logins = 0 WHERE staff_id = ?", (actor.actor_id,))
        await core.audit.append(actor, "staff_login", "enrolment_required")
        raise ApiError(
            403,
            "totp_enrolment_required",
            "enrol your second factor first (konbini-clerk login, or the desk, shows the QR code once)",
        )
    key = core.secrets.totp_key
    async with core.db.transaction() as tx:
        left = None
        if not (second.totp_code or second.recovery_code):
            passed = False  # the password alone is not enough
        elif second.totp_code:
            passed = await second_factor.accept_code(
                tx, key, actor.actor_id, row["totp_secret"], second.totp_code
            )
        else:
            left = await second_factor.use_recovery_code(tx, key, actor.actor_id, second.recovery_code)
            passed = left is not None
        if passed:
            token = await open_session(tx, actor)
            how = (
                {"second_factor": "totp"}
                if left is None
                else {"second_factor": "recovery_code", "left": left}
            )
            await core.audit.append_in(tx, actor, "staff_login", "ok", **how)
    if not passed:
        await _refuse(core, actor, row, "denied_second_factor")
    return token


async def reauthenticate(core: ServerCore, actor: Actor, password: str) -> None:
    """The password again on an open session (the desk's lock screen): counted like a login attempt, so
    guesses at a locked screen lock the account as well."""
    await check_password(core, actor, password)
    async with core.db.transaction() as tx:
        await tx.execute("UPDATE staff SET failed_logins = 0 WHERE staff_id = ?", (actor.actor_id,))
        await core.audit.append_in(tx, actor, "staff_reauth", "ok")


async def start_enrolment(core: ServerCore, actor: Actor, password: str) -> dict[str, str]:
    """A new TOTP seed for a staff member without a second factor (after their password): the seed and the
    ``otpauth://`` URI its QR code carries, shown once; it counts only after :func:`confirm_enrolment`."""
    row = await check_password(core, actor, password)
    if row["totp_secret"] is not None:
        await core.audit.append(actor, "totp_enrol", "refused_enrolled")
        raise ApiError(
            409, "totp_enrolled", "a second factor is enrolled already; an administrator can reset it"
        )
    seed = second_factor.new_seed()
    async with core.db.transaction() as tx:
        await tx.execute(
            "UPDATE staff SET totp_pending = ?, failed_logins = 0 WHERE staff_id = ?",
            (second_factor.seal(core.secrets.totp_key, actor.actor_id, seed), actor.actor_id),
        )
        await core.audit.append_in(tx, actor, "totp_enrol", "started")
    return {
        "secret": seed,
        "otpauth_uri": second_factor.otpauth_uri(seed, actor.actor_id, core.settings.municipality_name),
    }


async def confirm_enrolment(core: ServerCore, actor: Actor, password: str, code: str) -> dict[str, object]:
    """Make the pending seed the staff member's second factor once a code from it is right: a session
    token and ten recovery codes (shown once)."""
    row = await check_password(core, actor, password)
    if row["totp_pending"] is None:
        raise ApiError(409, "totp_not_pending", "start the enrolment first (it shows the QR code)")
    seed = second_factor.unseal(core.secrets.totp_key, actor.actor_id, row["totp_pending"])
    step = second_factor.matching_step(seed, code)
    if step is None:
        await _refuse(core, actor, row, "denied_second_factor")
    async with core.db.transaction() as tx:
        codes = await second_factor.enrol(tx, core.secrets.totp_key, actor.actor_id, seed, step)
        token = await open_session(tx, actor)
        await core.audit.append_in(tx, actor, "totp_enrol", "ok")
    return {"token": token, "recovery_codes": codes}


async def lift_lockout(core: ServerCore, actor: Actor, staff_id: str) -> None:
    """Unlock a staff account and clear its failures: 404 ``staff_unknown`` when there is no such account,
    409 ``staff_not_locked`` when it is not locked."""
    async with core.db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE staff SET locked_at = NULL, failed_logins = 0 WHERE staff_id = ? AND locked_at IS NOT NULL",
            (staff_id,),
        )
        if changed:
            await core.audit.append_in(tx, actor, "staff_unlock", "ok", None, staff_id=staff_id)
            return
        exists = await tx.fetchone("SELECT 1 FROM staff WHERE staff_id = ?", (staff_id,))
    if exists is None:
        raise ApiError(404, "staff_unknown", f"no staff account {clip(staff_id)}")
    raise ApiError(409, "staff_not_locked", f"staff account {clip(staff_id)} is not locked")


def _instant(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


async def authenticate_staff(request: web.Request, rule: Rule) -> Actor:
    """The access middleware's authenticator for staff routes: a logged-in staff member behind the
    request's bearer token, who holds the route's role. A session ends after ``IDLE_TIMEOUT_S`` idle and,
    however active, ``staff_session_max_s`` after its login."""
    core = core_of(request)
    auth = request.headers.get("Authorization", "")
    token = auth.removeprefix("Bearer ").strip() if auth.startswith("Bearer ") else ""
    row = (
        await core.db.fetchone(
            "SELECT s.staff_id, s.terminal, s.created_at, s.last_seen_at, t.roles FROM staff_sessions s"
            " JOIN staff t USING (staff_id) WHERE s.token_hash = ? AND t.active = 1",
            (token_hash(token),),
        )
        if token
        else None
    )
    if row is None:
        raise ApiError(401, "staff_unauthorized", "log in first")
    now = utc_now()
    if (now - _instant(row["last_seen_at"])).total_seconds() > IDLE_TIMEOUT_S:
        ended = "the session ended after idle time"
    elif (now - _instant(row["created_at"])).total_seconds() > core.settings.staff_session_max_s:
        ended = f"the session ended {core.settings.staff_session_max_s / 3600:g} hours after its login"
    else:
        ended = ""
    if ended:
        await core.db.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash(token),))
        raise ApiError(401, "staff_session_expired", f"{ended}; log in again")
    if rule.role is not None and not set(rule.role.split("|")) & set(row["roles"].split(",")):
        raise ApiError(403, "role_required", f"this needs the role {rule.role.replace('|', ' or ')}")
    await core.db.execute(
        "UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?", (utc_now_iso(), token_hash(token))
    )
    request[STAFF_ROLES] = frozenset(row["roles"].split(","))
    request[STAFF_TOKEN] = token_hash(token)
    return Actor(
        "staff", row["staff_id"], row["terminal"], client_address(request, core.secrets.proxy_secret)
    )
