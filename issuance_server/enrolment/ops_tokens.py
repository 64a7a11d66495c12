"""Named, revocable, expiring ops tokens for automation (owns ``ops_tokens``). Staff with the ops role act as
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
from issuance_server.audit.trail import Actor
from issuance_server.core import ServerCore, token_hash
from issuance_server.server_tls import PROXY_SECRET_HEADER
from issuance_server.storage.database import Database
from wire.clock import to_iso, utc_now, utc_now_iso

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
LOCAL = "local"
SERVER = "server"  # the creator of ``local``
MAX_DAYS = 366
_MAX_DEPTH = 16  # tokens made by tokens made by tokens ...
log = logging.getLogger("konbini.ops")


async def register_local(db: Database, token: str) -> None:
    """Record the first-start token as ``local`` (once; a revoked ``local`` stays revoked)."""
    await db.execute(
        "INSERT OR IGNORE INTO ops_tokens (name, token_hash, created_by, created_at) VALUES (?, ?, ?, ?)",
        (LOCAL, token_hash(token), SERVER, utc_now_iso()),
    )


def from_this_machine(request: web.Request) -> bool:
    """The request came from the server machine itself: a loopback peer, not relayed by a proxy."""
    try:
        loopback = ipaddress.ip_address(request.remote or "").is_loopback
    except ValueError:
        return False
    relayed = PROXY_SECRET_HEADER in request.headers or "X-Forwarded-For" in request.headers
    return loopback and not relayed


async def name_of(db: Database, token: str) -> str | None:
    """The name of a token that works now (known, not revoked, not expired, its creator still may act),
    or None."""
    row = await db.fetchone(
        "SELECT name, created_by, expires_at FROM ops_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (token_hash(token),),
    )
    if row is None or not await _works(db, row["created_by"], row["expires_at"]):
        return None
    return str(row["name"])


async def _works(db: Database, creator: str, expires_at: str | None) -> bool:
    now = utc_now_iso()
    for _ in range(_MAX_DEPTH):
        if expires_at is not None and expires_at <= now:
            return False
        if creator == SERVER:
            return True
        if not creator.startswith("token:"):
            staff = await db.fetchone("SELECT active, roles FROM staff WHERE staff_id = ?", (creator,))
            return staff is not None and bool(staff["active"]) and "ops" in staff["roles"].split(",")
        parent = await db.fetchone(
            "SELECT created_by, expires_at FROM ops_tokens WHERE name = ? AND revoked_at IS NULL",
            (creator.removeprefix("token:"),),
        )
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
    async with core.db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM ops_tokens WHERE name = ?", (_name(name),)):
            raise ApiError(
                409, "token_exists", f"an ops token named {name} exists (revoked ones keep their name)"
            )
        await tx.execute(
            "INSERT INTO ops_tokens (name, token_hash, created_by, created_at, expires_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (name, token_hash(token), actor.actor_id, utc_now_iso(), expires_at),
        )
        await core.audit.append_in(tx, actor, "ops_token_add", "ok", None, name=name, expires_at=expires_at)
    return {"token": token, "expires_at": expires_at}


async def revoke(core: ServerCore, actor: Actor, name: str) -> None:
    async with core.db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE ops_tokens SET revoked_by = ?, revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
            (actor.actor_id, utc_now_iso(), _name(name)),
        )
        if not changed:
            raise ApiError(404, "token_unknown", f"no live ops token named {name}")
        await core.audit.append_in(tx, actor, "ops_token_revoke", "ok", None, name=name)


async def listed(core: ServerCore) -> list[dict[str, Any]]:
    rows = await core.db.fetchall(
        "SELECT name, created_by, created_at, expires_at, revoked_by, revoked_at FROM ops_tokens ORDER BY name"
    )
    out = []
    for r in rows:
        works = r["revoked_at"] is None and await _works(core.db, r["created_by"], r["expires_at"])
        out.append({**dict(r), "works": works})
    return out


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
    async with core.db.transaction() as tx:
        changed = await tx.execute(
            "UPDATE ops_tokens SET token_hash = ?, created_at = ? WHERE name = ? AND revoked_at IS NULL",
            (token_hash(token), utc_now_iso(), LOCAL),
        )
        if not changed:
            _pending(path).unlink()
            raise ApiError(404, "token_unknown", "the local ops token is revoked; it cannot be rotated")
        await core.audit.append_in(tx, actor, "ops_token_rotate", "ok", None, name=LOCAL)
    os.replace(_pending(path), path)


async def finish_rotation(db: Database, secrets_dir: Path) -> str | None:
    """At start: a rotation cut short (``ops-token.new`` left) is finished if the database has its hash,
    else dropped. The local token now in force, if it changed."""
    pending = _pending(secrets_dir / "ops-token")
    if not pending.exists():
        return None
    token = pending.read_text().strip()
    row = await db.fetchone("SELECT token_hash FROM ops_tokens WHERE name = ?", (LOCAL,))
    if row is not None and row["token_hash"] == token_hash(token):
        os.replace(pending, secrets_dir / "ops-token")
        log.info("finished rotating the local ops token")
        return token
    pending.unlink()
    return None
