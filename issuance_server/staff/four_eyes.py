"""The four-eyes rule, in one place: who may approve another staff member's request (a purge, a new
account, a role grant). Not the requester, and not an account the requester made: one administrator who
made a second account could otherwise approve their own requests through it."""

from __future__ import annotations

from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.audit.trail import Actor, AuditLog
from issuance_server.staff import store
from issuance_server.storage.engine import Engine


async def check_approver(
    db: Engine, audit: AuditLog, approver: Actor, requester: str, action: str, **details: Any
) -> None:
    """Raise a 409 unless ``approver`` is independent of ``requester``; a refusal is audited as
    ``action`` with result ``refused_<code>``."""
    try:
        await _independent(db, approver.actor_id, requester)
    except ApiError as exc:
        await audit.append(approver, action, f"refused_{exc.code}", None, **details)
        raise


async def _independent(db: Engine, approver: str, requester: str) -> None:
    if approver == requester:
        raise ApiError(409, "approver_is_requester", "another administrator must approve your own request")
    if await db.read(lambda tx: store.created_by(tx, approver)) == requester:
        raise ApiError(
            409,
            "approver_made_by_requester",
            f"your account was made at the request of {requester}: an administrator independent of them"
            " approves",
        )
