"""Named, revocable ops tokens for automation (owns ``ops_tokens``). Staff with the ops role act as
themselves; a token acts under its name (``token:<name>`` in the audit trail). The token made at first
start (``secrets/ops-token``) is ``local``."""

from __future__ import annotations

import re
import secrets
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.audit import Actor
from issuance_server.clock import utc_now_iso
from issuance_server.core import ServerCore, token_hash
from issuance_server.database import Database

NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
LOCAL = "local"


async def register_local(db: Database, token: str) -> None:
    """Record the first-start token as ``local`` (once; a revoked ``local`` stays revoked)."""
    await db.execute(
        "INSERT OR IGNORE INTO ops_tokens (name, token_hash, created_by, created_at) VALUES (?, ?, 'server', ?)",
        (LOCAL, token_hash(token), utc_now_iso()),
    )


async def name_of(db: Database, token: str) -> str | None:
    """The name of a live token, or None (unknown or revoked)."""
    row = await db.fetchone(
        "SELECT name FROM ops_tokens WHERE token_hash = ? AND revoked_at IS NULL", (token_hash(token),)
    )
    return str(row["name"]) if row else None


def _name(name: str) -> str:
    if not NAME.fullmatch(name):
        raise ApiError(400, "bad_field", "name: 1-40 lower-case letters, digits or '-'", field="name")
    return name


async def add(core: ServerCore, actor: Actor, name: str) -> str:
    """A new token named ``name``: returned once, kept only as its hash."""
    token = secrets.token_urlsafe(32)
    async with core.db.transaction() as tx:
        if await tx.fetchone("SELECT 1 FROM ops_tokens WHERE name = ?", (_name(name),)):
            raise ApiError(
                409, "token_exists", f"an ops token named {name} exists (revoked ones keep their name)"
            )
        await tx.execute(
            "INSERT INTO ops_tokens (name, token_hash, created_by, created_at) VALUES (?, ?, ?, ?)",
            (name, token_hash(token), actor.actor_id, utc_now_iso()),
        )
        await core.audit.append_in(tx, actor, "ops_token_add", "ok", None, name=name)
    return token


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
        "SELECT name, created_by, created_at, revoked_by, revoked_at FROM ops_tokens ORDER BY name"
    )
    return [dict(r) for r in rows]
