"""Staff administration by staff holding the ``admin`` role (``/clerk/api/admin/staff``): create staff,
assign roles, set a temporary password, reset a second factor, lift a lockout, deactivate. Every change is
audited under the administrator's name. No administrator changes their own account (so there is always
another administrator left who can, and no one widens or hides their own access).

Four eyes (``issuance_server.staff.four_eyes``): a new account and every role grant wait until a second,
independent administrator approves; that administrator, not the one who asked, sets the new account's
temporary password and hands it over. Taking roles away and deactivating act at once. The first
administrator, and a second one while only one exists, come from ``konbini-clerk bootstrap`` on the server
machine, never from here."""

from __future__ import annotations

import secrets
from typing import Any

from aiohttp import web

from issuance_server.access import actor_of, allow, staff
from issuance_server.api_errors import ApiError, clip, field, json_response, read_json
from issuance_server.audit.trail import append_sync
from issuance_server.core import ServerCore, core_of
from issuance_server.secret_hashing import STAFF_PASSWORD
from issuance_server.staff import second_factor, store
from issuance_server.staff.auth import check_staff_id, lift_lockout
from issuance_server.staff.four_eyes import check_approver
from issuance_server.storage.engine import Tx
from wire.clock import utc_now_iso
from wire.roles import ROLES

MIN_PASSWORD = 12
ADMIN = staff("admin")
routes = web.RouteTableDef()


def check_password_rule(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password must have at least {MIN_PASSWORD} characters")
    return password


def check_roles(roles: list[str]) -> list[str]:
    bad = [r for r in roles if r not in ROLES]
    if bad or not roles:
        raise ValueError(f"roles: one or more of {', '.join(ROLES)} (not {clip(', '.join(bad)) or 'none'})")
    return sorted(set(roles), key=ROLES.index)


def _roles(data: dict[str, Any]) -> list[str]:
    value = field(data, "roles", list)
    try:
        return check_roles([str(r) for r in value])
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc), field="roles") from None


def _password(data: dict[str, Any]) -> str:
    try:
        return check_password_rule(field(data, "password", str))
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc), field="password") from None


def _target(request: web.Request) -> str:
    """The staff member an administrator acts on: never themselves (another administrator changes an
    administrator's own roles, password or second factor: no one widens or hides their own access)."""
    try:
        staff_id = check_staff_id(request.match_info["staff_id"])
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc), field="staff_id") from None
    if staff_id == actor_of(request).actor_id:
        raise ApiError(409, "own_account", "another administrator changes your own account")
    return staff_id


def _split(roles: str | None) -> list[str]:
    return [r for r in (roles or "").split(",") if r]


def _existing(tx: Tx, staff_id: str) -> dict[str, Any]:
    row = store.account(tx, staff_id)
    if row is None:
        raise ApiError(404, "staff_unknown", f"no staff account {staff_id}")
    return {
        "staff_id": row["staff_id"],
        "roles": _split(row["roles"]),
        "active": bool(row["active"]),
        "pending_roles": _split(row["pending_roles"]) if row["pending_roles"] is not None else None,
        "pending_by": row["pending_by"],
        "approved": bool(row["approved"]),
    }


def _pending(account: dict[str, Any]) -> dict[str, Any]:
    """The account, which must have roles waiting for approval (409 ``nothing_pending`` otherwise)."""
    if account["pending_roles"] is None:
        raise ApiError(409, "nothing_pending", f"{account['staff_id']} has no roles waiting for approval")
    return account


async def staff_list(core: ServerCore) -> list[dict[str, Any]]:
    rows = await core.db.read(store.listing)
    return [
        {
            "staff_id": r["staff_id"],
            "display_name": r["display_name"],
            "roles": _split(r["roles"]),
            "pending_roles": _split(r["pending_roles"]) if r["pending_roles"] is not None else None,
            "pending_by": r["pending_by"],
            "created_by": r["created_by"],
            "approved": bool(r["approved"]),
            "active": bool(r["active"]),
            "locked": r["locked_at"] is not None,
            "second_factor": bool(r["totp"]),
            "recovery_codes_left": r["recovery_codes_left"],
            "created_at": r["created_at"],
        }
        for r in rows
    ]


@routes.get("/api/admin/staff")
@allow(ADMIN)
async def list_staff(request: web.Request) -> web.Response:
    return json_response({"staff": await staff_list(core_of(request))})


@routes.post("/api/admin/staff")
@allow(ADMIN)
async def create_staff(request: web.Request) -> web.Response:
    """Ask for a new staff member: no roles and no password until another administrator approves (and sets
    the temporary password); they enrol their second factor at the first login."""
    core, actor = core_of(request), actor_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    if "password" in data:
        raise ApiError(
            400, "bad_field", "password: the administrator who approves the account sets it (four eyes)",
            field="password",
        )  # fmt: skip
    try:
        staff_id = check_staff_id(field(data, "staff_id", str))
    except ValueError as exc:
        raise ApiError(400, "bad_field", str(exc), field="staff_id") from None
    name = field(data, "display_name", str).strip()
    if not name or len(name) > 100:
        raise ApiError(400, "bad_field", "display_name: 1-100 characters", field="display_name")
    roles = _roles(data)
    unusable = await core.hasher.hash(STAFF_PASSWORD, secrets.token_urlsafe(32))  # no one knows it
    now, key = utc_now_iso(), core.secrets.audit_chain_key

    def requested(tx: Tx) -> None:
        if store.exists(tx, staff_id):
            raise ApiError(409, "staff_exists", f"staff account {staff_id} exists already")
        store.insert_requested(tx, staff_id, name, unusable, ",".join(roles), actor.actor_id, now)
        append_sync(tx, key, actor, "staff_create", "requested", None, staff_id=staff_id, roles=roles)

    await core.db.write(requested)
    return json_response(
        {"staff_id": staff_id, "roles": [], "pending_roles": roles, "second_factor": False}, status=201
    )


@routes.patch("/api/admin/staff/{staff_id}")
@allow(ADMIN)
async def change_staff(request: web.Request) -> web.Response:
    """Roles and/or active: deactivating ends the staff member's sessions."""
    core, actor = core_of(request), actor_of(request)
    staff_id = _target(request)
    data = await read_json(request, core.settings.max_body_bytes)
    unknown = sorted(set(data) - {"roles", "active"})
    if unknown:
        raise ApiError(
            400, "bad_field", f"only roles and active can be changed, not {clip(', '.join(unknown))}"
        )
    roles = _roles(data) if "roles" in data else None
    active = field(data, "active", bool) if "active" in data else None
    if roles is None and active is None:
        raise ApiError(400, "bad_field", "give roles and/or active")
    now, key = utc_now_iso(), core.secrets.audit_chain_key

    def changed(tx: Tx) -> dict[str, Any]:
        before = _existing(tx, staff_id)
        if roles is not None:  # roles taken away go at once; roles added wait for another administrator
            kept = [r for r in before["roles"] if r in roles]
            added = set(roles) - set(before["roles"])
            store.set_roles(
                tx, staff_id, ",".join(kept), ",".join(roles) if added else None,
                actor.actor_id if added else None, now if added else None,
            )  # fmt: skip
        if active is not None:
            store.set_active(tx, staff_id, active)
            if not active:
                store.end_sessions_of(tx, staff_id)
        after = _existing(tx, staff_id)
        append_sync(tx, key, actor, "staff_change", "ok", None, staff_id=staff_id, before=before, after=after)
        return after

    return json_response(await core.db.write(changed))


@routes.post("/api/admin/staff/{staff_id}/approve")
@allow(ADMIN)
async def approve(request: web.Request) -> web.Response:
    """Put the roles another administrator asked for in force. A new account needs ``password``: the
    temporary password the approver sets and hands over."""
    core, actor = core_of(request), actor_of(request)
    staff_id = _target(request)
    data = await read_json(request, core.settings.max_body_bytes)
    before = _pending(await core.db.read(lambda tx: _existing(tx, staff_id)))
    await check_approver(core.db, core.audit, actor, before["pending_by"], "staff_approve", staff_id=staff_id)
    new_account = not before["approved"]
    if new_account:
        pw_hash = await core.hasher.hash(STAFF_PASSWORD, _password(data))
    elif "password" in data:
        raise ApiError(400, "bad_field", "password: only for a new account", field="password")
    key = core.secrets.audit_chain_key

    def approved(tx: Tx) -> dict[str, Any]:
        if not store.approve_pending(tx, staff_id, ",".join(before["pending_roles"]), before["pending_by"]):
            raise ApiError(409, "nothing_pending", f"{staff_id}'s request changed meanwhile: look again")
        if new_account:
            store.approve_account(tx, staff_id, pw_hash)
        after = _existing(tx, staff_id)
        append_sync(
            tx, key, actor, "staff_approve", "ok", None, staff_id=staff_id, requested_by=before["pending_by"],
            roles=after["roles"], new_account=new_account,
        )  # fmt: skip
        return after

    return json_response(await core.db.write(approved))


@routes.post("/api/admin/staff/{staff_id}/reject")
@allow(ADMIN)
async def reject(request: web.Request) -> web.Response:
    """Drop the roles waiting for approval (the one who asked may withdraw them too)."""
    core, actor = core_of(request), actor_of(request)
    staff_id = _target(request)
    key = core.secrets.audit_chain_key

    def rejected(tx: Tx) -> dict[str, Any]:
        before = _pending(_existing(tx, staff_id))
        store.drop_pending(tx, staff_id)
        after = _existing(tx, staff_id)
        append_sync(
            tx, key, actor, "staff_reject", "ok", None, staff_id=staff_id, requested_by=before["pending_by"]
        )
        return after

    return json_response(await core.db.write(rejected))


@routes.post("/api/admin/staff/{staff_id}/password")
@allow(ADMIN)
async def set_password(request: web.Request) -> web.Response:
    """A temporary password (a forgotten one): the staff member's sessions end."""
    core, actor = core_of(request), actor_of(request)
    staff_id = _target(request)
    data = await read_json(request, core.settings.max_body_bytes)
    pw_hash = await core.hasher.hash(STAFF_PASSWORD, _password(data))
    key = core.secrets.audit_chain_key

    def password_set(tx: Tx) -> None:
        _existing(tx, staff_id)
        store.set_password(tx, staff_id, pw_hash)
        store.end_sessions_of(tx, staff_id)
        append_sync(tx, key, actor, "staff_password_set", "ok", None, staff_id=staff_id)

    await core.db.write(password_set)
    return json_response({"staff_id": staff_id, "password_set": True})


@routes.post("/api/admin/staff/{staff_id}/totp-reset")
@allow(ADMIN)
async def reset_second_factor(request: web.Request) -> web.Response:
    """Forget a lost authenticator: the staff member enrols again at the next login; sessions end."""
    core, actor = core_of(request), actor_of(request)
    staff_id = _target(request)
    key = core.secrets.audit_chain_key

    def reset(tx: Tx) -> None:
        _existing(tx, staff_id)
        second_factor.reset(tx, staff_id)
        store.end_sessions_of(tx, staff_id)
        append_sync(tx, key, actor, "totp_reset", "ok", None, staff_id=staff_id)

    await core.db.write(reset)
    return json_response({"staff_id": staff_id, "second_factor": False})


@routes.post("/api/admin/staff/{staff_id}/unlock")
@allow(ADMIN)
async def unlock(request: web.Request) -> web.Response:
    core, actor = core_of(request), actor_of(request)
    staff_id = _target(request)
    await lift_lockout(core, actor, staff_id)
    return json_response({"staff_id": staff_id, "unlocked": True})
