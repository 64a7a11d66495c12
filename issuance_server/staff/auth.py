"""Staff accounts and their sessions: argon2id passwords, bearer tokens, idle timeout, roles."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NoReturn

from aiohttp import web

from issuance_server.access import Rule
from issuance_server.api_errors import ApiError, clip
from issuance_server.audit.trail import Actor, append_sync
from issuance_server.core import ServerCore, core_of, token_hash
from issuance_server.secret_hashing import STAFF_PASSWORD
from issuance_server.server_tls import client_address
from issuance_server.staff import second_factor, store
from issuance_server.storage.engine import Row, Tx
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


async def _refuse(core: ServerCore, actor: Actor, row: Row | None, result: str) -> NoReturn:
    """Audit a failed attempt and refuse it. The attempt that locks the account is audited ``locked``, once
    a lockout: parallel attempts that read the row before it was locked are ``refused_locked`` like the
    ones after (the monthly review counts ``locked`` rows as lockouts)."""
    reached = row is not None and row["failed_logins"] >= core.settings.staff_max_failures
    was_locked = row is not None and row["locked_at"] is not None
    now, key = utc_now_iso(), core.secrets.audit_chain_key

    def refuse(tx: Tx) -> bool:
        locked = reached and not was_locked and store.lock(tx, actor.actor_id, now)
        outcome = ("locked" if locked else "refused_locked") if reached or was_locked else result
        append_sync(tx, key, actor, "staff_login", outcome)
        return locked

    if await core.db.write(refuse):  # the alert: an account locked (ops or an administrator lift it)
        log.warning(
            "staff account %s locked after %d failed logins in a row (the last from %s)",
            actor.actor_id, core.settings.staff_max_failures, actor.peer,
        )  # fmt: skip
    raise _login_failed(core)


async def check_password(core: ServerCore, actor: Actor, password: str) -> Row:
    """The staff row when ``password`` is right, else 401 ``login_failed`` alike for an unknown id, a wrong
    password and a locked account (argon2id runs in each case, so the time does not tell them apart
    either). Each attempt is counted before the password is checked, so parallel guesses cannot pass
    ``staff_max_failures``; the account then stays locked for ``staff_lockout_s`` or until it is lifted
    (:func:`lift_lockout`). A wrong second factor counts the same (:func:`login`)."""
    limit = core.settings.staff_max_failures
    since = utc_now() - timedelta(seconds=core.settings.staff_lockout_s)
    expired = since.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # as utc_now_iso writes it
    staff_id = actor.actor_id

    def count_attempt(tx: Tx) -> Row | None:
        store.end_lockout_before(tx, staff_id, expired)  # a lockout that has run its time ends
        return store.count_attempt(tx, staff_id)

    row = await core.db.write(count_attempt)
    open_account = row is not None and row["locked_at"] is None and row["failed_logins"] <= limit
    stored = row["password_hash"] if open_account and row is not None else None
    if not await core.hasher.verify_or_waste(STAFF_PASSWORD, stored, password):
        await _refuse(core, actor, row, "denied")
    assert row is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    return row


def open_session(tx: Tx, actor: Actor) -> str:
    """A new session token for a staff member who has passed both factors (their failures cleared)."""
    token = secrets.token_urlsafe(32)
    store.clear_failures(tx, actor.actor_id)
    store.insert_session(tx, token_hash(token), actor.actor_id, actor.terminal, utc_now_iso())
    return token


async def login(core: ServerCore, actor: Actor, password: str, second: SecondFactor) -> str:
    """A session token after the password and the second factor (a TOTP code used once, or a recovery
    code); a staff member without a second factor yet gets 403 ``totp_enrolment_required`` (a code is then
    not needed: the first login starts the enrolment)."""
    row = await check_password(core, actor, password)
    staff_id, audit_key = actor.actor_id, core.secrets.audit_chain_key
    if row["totp_secret"] is None:

        def enrolment_required(tx: Tx) -> None:
            store.clear_failures(tx, staff_id)
            append_sync(tx, audit_key, actor, "staff_login", "enrolment_required")

        await core.db.write(enrolment_required)
        raise ApiError(
            403,
            "totp_enrolment_required",
            "enrol your second factor first (konbini-clerk login, or the desk, shows the QR code once)",
        )
    key = core.secrets.totp_key
    step = (
        second_factor.matching_step(second_factor.unseal(key, staff_id, row["totp_secret"]), second.totp_code)
        if second.totp_code
        else None
    )

    def second_factor_passed(tx: Tx) -> str | None:
        """The session's token, or None when the second factor is wrong (nothing changed then)."""
        how: dict[str, Any]
        if second.totp_code:
            if not second_factor.use_code(tx, staff_id, step):
                return None
            how = {"second_factor": "totp"}
        else:
            left = second_factor.use_recovery_code(tx, key, staff_id, second.recovery_code)
            if left is None:
                return None
            how = {"second_factor": "recovery_code", "left": left}
        token = open_session(tx, actor)
        append_sync(tx, audit_key, actor, "staff_login", "ok", **how)
        return token

    passed = second.totp_code or second.recovery_code  # the password alone is not enough
    token = await core.db.write(second_factor_passed) if passed else None
    if token is None:
        await _refuse(core, actor, row, "denied_second_factor")
    return token


async def reauthenticate(core: ServerCore, actor: Actor, password: str) -> None:
    """The password again on an open session (the desk's lock screen): counted like a login attempt, so
    guesses at a locked screen lock the account as well."""
    await check_password(core, actor, password)
    key = core.secrets.audit_chain_key

    def reauthenticated(tx: Tx) -> None:
        store.clear_failures(tx, actor.actor_id)
        append_sync(tx, key, actor, "staff_reauth", "ok")

    await core.db.write(reauthenticated)


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
    sealed, key = (
        second_factor.seal(core.secrets.totp_key, actor.actor_id, seed),
        core.secrets.audit_chain_key,
    )

    def started(tx: Tx) -> None:
        store.start_totp_enrolment(tx, actor.actor_id, sealed)
        append_sync(tx, key, actor, "totp_enrol", "started")

    await core.db.write(started)
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
    totp_key, audit_key = core.secrets.totp_key, core.secrets.audit_chain_key

    def enrolled(tx: Tx) -> dict[str, object]:
        codes = second_factor.enrol(tx, totp_key, actor.actor_id, seed, step)
        token = open_session(tx, actor)
        append_sync(tx, audit_key, actor, "totp_enrol", "ok")
        return {"token": token, "recovery_codes": codes}

    return await core.db.write(enrolled)


async def logout_session(core: ServerCore, actor: Actor, hashed_token: str) -> None:
    """End the session whose token hash this is, audited."""
    key = core.secrets.audit_chain_key

    def logged_out(tx: Tx) -> None:
        store.end_session(tx, hashed_token)
        append_sync(tx, key, actor, "staff_logout", "ok")

    await core.db.write(logged_out)


async def lift_lockout(core: ServerCore, actor: Actor, staff_id: str) -> None:
    """Unlock a staff account and clear its failures: 404 ``staff_unknown`` when there is no such account,
    409 ``staff_not_locked`` when it is not locked."""
    key = core.secrets.audit_chain_key

    def lift(tx: Tx) -> str:
        if store.lift_lockout(tx, staff_id):
            append_sync(tx, key, actor, "staff_unlock", "ok", None, staff_id=staff_id)
            return "unlocked"
        return "not_locked" if store.exists(tx, staff_id) else "unknown"

    outcome = await core.db.write(lift)
    if outcome == "unknown":
        raise ApiError(404, "staff_unknown", f"no staff account {clip(staff_id)}")
    if outcome == "not_locked":
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
    hashed = token_hash(token)
    row = await core.db.read(lambda tx: store.session(tx, hashed)) if token else None
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
        await core.db.write(lambda tx: store.end_session(tx, hashed))
        raise ApiError(401, "staff_session_expired", f"{ended}; log in again")
    if rule.role is not None and not set(rule.role.split("|")) & set(row["roles"].split(",")):
        raise ApiError(403, "role_required", f"this needs the role {rule.role.replace('|', ' or ')}")
    seen = utc_now_iso()
    await core.db.write(lambda tx: store.touch_session(tx, hashed, seen))
    request[STAFF_ROLES] = frozenset(row["roles"].split(","))
    request[STAFF_TOKEN] = hashed
    return Actor(
        "staff", row["staff_id"], row["terminal"], client_address(request, core.secrets.proxy_secret)
    )
