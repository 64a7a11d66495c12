"""Named, revocable, expiring ops tokens for automation (``ops_tokens``, its SQL in
:mod:`issuance_server.enrolment.store`). Staff with the ops role act as
themselves; a token acts under its name (``token:<name>`` in the audit trail) for its creator, and works
only while its creator may: a staff creator still active and holding the ops role, a token creator still
working. Tokens expire (``ops_token_days``, 90 by default).

The token made at first start (``secrets/ops-token``) is ``local``: it never expires, works only from the
server machine itself (loopback, not through a proxy) and is rotated with ``konbini-ops token-rotate-local``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import re
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from issuance_server.api_errors import ApiError
from issuance_server.audit.trail import Actor, append_sync
from issuance_server.core import ServerCore, token_hash
from issuance_server.enrolment import store
from issuance_server.server_tls import PROXY_SECRET_HEADER
from issuance_server.staff import store as staff_store
from issuance_server.storage.engine import Engine, Tx
from wire.clock import to_iso, utc_now, utc_now_iso

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
LOCAL = "local"
SERVER = "server"  # the creator of ``local``
MAX_DAYS = 366
_MAX_DEPTH = 16  # tokens made by tokens made by tokens ...
log = logging.getLogger("konbini.ops")


async def register_local(db: Engine, token: str) -> None:
    """Record the first-start token as ``local`` (once; a revoked ``local`` stays revoked)."""
    hashed, now = token_hash(token), utc_now_iso()
    await db.write(lambda tx: store.insert_token_once(tx, LOCAL, hashed, SERVER, now))


def from_this_machine(request: web.Request) -> bool:
    """The request came from the server machine itself: a loopback peer, not relayed by a proxy."""
    try:
        loopback = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False
    relayed = PROXY_SECRET_HEADER in request.headers or "X-Forwarded-For" in request.headers
    return loopback and not relayed


async def name_of(db: Engine, token: str) -> str | None:
    """The name of a token that works now (known, not revoked, not expired, its creator still may act),
    or None (one read)."""
    hashed, now = token_hash(token), utc_now_iso()

    def working_name(tx: Tx) -> str | None:
        row = store.live_token_by_hash(tx, hashed)
        if row is None or not _works(tx, row["created_by"], row["expires_at"], now):
            return None
        return str(row["name"])

    return await db.read(working_name)


def _works(tx: Tx, creator: str, expires_at: str | None, now: str) -> bool:
    for _ in range(_MAX_DEPTH):
        if expires_at is not None and expires_at <= now:
            return False
        if creator == SERVER:
            return True
        if not creator.startswith("token:"):
            return staff_store.holds_role(tx, creator, "ops")
        parent = store.live_token(tx, creator.removeprefix("token:"))
        if parent is None:
            return False
        creator, expires_at = str(parent["created_by"]), parent["expires_at"]
    return False


def _name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ApiError(400, "bad_field", "name: 1-40 lower-case letters, digits or '-'", field="name")
    return name


async def add(core: ServerCore, actor: Actor, name: str, days: int | None = None) -> dict[str, str]:
    """A new token named ``name`` acting for ``actor``: returned once, kept only as its hash."""
    days = core.settings.ops_token_days if days is None else days
    if not 1 <= days <= min(MAX_DAYS, core.settings.ops_token_days):
        raise ApiError(
            400, "bad_field", f"days: 1 to {min(MAX_DAYS, core.settings.ops_token_days)}", field="days"
        )
    token = secrets.token_urlsafe(32)
    expires_at = to_iso(utc_now() + timedelta(days=days))
    name, hashed, now, key = _name(name), token_hash(token), utc_now_iso(), core.secrets.audit_chain_key

    def added(tx: Tx) -> None:
        if store.token_exists(tx, name):
            raise ApiError(
                409, "token_exists", f"an ops token named {name} exists (revoked ones keep their name)"
            )
        store.insert_token(tx, name, hashed, actor.actor_id, now, expires_at)
        append_sync(tx, key, actor, "ops_token_add", "ok", None, name=name, expires_at=expires_at)

    await core.db.write(added)
    return {"token": token, "expires_at": expires_at}


async def revoke(core: ServerCore, actor: Actor, name: str) -> None:
    name, now, key = _name(name), utc_now_iso(), core.secrets.audit_chain_key

    def revoked(tx: Tx) -> None:
        if not store.revoke_token(tx, name, actor.actor_id, now):
            raise ApiError(404, "token_unknown", f"no live ops token named {name}")
        append_sync(tx, key, actor, "ops_token_revoke", "ok", None, name=name)

    await core.db.write(revoked)


async def listed(core: ServerCore) -> list[dict[str, Any]]:
    now = utc_now_iso()

    def listing(tx: Tx) -> list[dict[str, Any]]:
        return [
            {
                **dict(r),
                "works": r["revoked_at"] is None and _works(tx, r["created_by"], r["expires_at"], now),
            }
            for r in store.tokens(tx)
        ]

    return await core.db.read(listing)


def _pending(path: Path) -> Path:
    return path.with_name(path.name + ".new")


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, text.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


async def rotate_local(core: ServerCore, actor: Actor) -> None:
    """A new ``local`` token: written beside the old file, recorded, then put in its place (a crash in
    between is finished at the next start by :func:`finish_rotation`)."""
    path = core.settings.secrets_dir / "ops-token"
    token = secrets.token_urlsafe(32)
    _write_private(_pending(path), token)
    hashed, now, key = token_hash(token), utc_now_iso(), core.secrets.audit_chain_key

    def rotated(tx: Tx) -> bool:
        if not store.replace_token(tx, LOCAL, hashed, now):
            return False
        append_sync(tx, key, actor, "ops_token_rotate", "ok", None, name=LOCAL)
        return True

    if not await core.db.write(rotated):
        _pending(path).unlink()
        raise ApiError(404, "token_unknown", "the local ops token is revoked; it cannot be rotated")
    os.replace(_pending(path), path)


async def finish_rotation(db: Engine, secrets_dir: Path) -> str | None:
    """At start: a rotation cut short (``ops-token.new`` left) is finished if the database has its hash,
    else dropped. The local token now in force, if it changed."""
    pending = _pending(secrets_dir / "ops-token")
    if not pending.exists():
        return None
    token = pending.read_text().strip()
    if await db.read(lambda tx: store.token_hash_of(tx, LOCAL)) == token_hash(token):
        os.replace(pending, secrets_dir / "ops-token")
        log.info("finished rotating the local ops token")
        return token
    pending.unlink()
    return None
