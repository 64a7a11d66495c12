"""Erasure past retention (the seed's rule for media: erased only with a manager's prior approval,
unrecoverably, with a record). Owns the ``purges`` table.

One staff member requests a purge of everything older than a day; an administrator who is not the
requester approves it, and only then is it carried out: issuance records of earlier days (with the
records as printed, the PDFs and the payments) are deleted and the personal field of older audit rows is
erased, with SQLite's ``secure_delete`` on, then ``VACUUM`` and a WAL checkpoint, so that nothing is left in
free pages (on PostgreSQL: ``VACUUM FULL`` of the tables erased from, which rewrites each into a new file
and removes the old one; the WAL keeps what it held until its segments are recycled). The audit trail still verifies (its chain covers a MAC of the personal field, not the field).
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.audit import store as audit_store
from issuance_server.audit.trail import Actor, append_sync
from issuance_server.backups import store
from issuance_server.core import ServerCore
from issuance_server.issuing import issuance
from issuance_server.issuing import store as issuing_store
from issuance_server.payments import ledger as payments
from issuance_server.payments import store as payments_store
from issuance_server.staff.four_eyes import check_approver
from issuance_server.storage.engine import Row, Tx
from wire.clock import JST, jst_now, to_iso, utc_now_iso

# What a purge erases from: the certificates with their documents and sources, the payments, the trail's
# personal field (``_erase``); rewritten afterwards so that nothing erased stays in their files.
ERASED_TABLES = (*issuing_store.TABLES, *payments_store.TABLES, *audit_store.TABLES)


def cutoff_of(before: str, retention_days: int, today: date) -> datetime:
    """The instant records must be older than, checked against the retention period."""
    try:
        day = date.fromisoformat(before)
    except ValueError:
        raise ApiError(400, "bad_field", "before must be a date, YYYY-MM-DD", field="before") from None
    kept_from = today - timedelta(days=retention_days)
    if day > kept_from:
        raise ApiError(
            409,
            "within_retention",
            f"records are kept {retention_days} days (retention_days): purge only before {kept_from + timedelta(days=1)}",
        )
    return datetime.combine(day, time(0), JST)


def _as_json(row: Any) -> dict[str, Any]:
    return {
        "purge_id": row["purge_id"],
        "before": row["before"],
        "requested_by": row["requested_by"],
        "requested_at": row["requested_at"],
        "reason": row["reason"],
        "status": row["status"],
        "approved_by": row["approved_by"],
        "done_at": row["done_at"],
        "erased": json.loads(row["erased"]) if row["erased"] else None,
    }


async def request_purge(core: ServerCore, actor: Actor, before: str, reason: str) -> dict[str, Any]:
    cutoff_of(before, core.settings.retention_days, jst_now().date())
    if not reason.strip():
        raise ApiError(400, "bad_field", "say why (reason): it is kept with the purge", field="reason")
    key = core.secrets.audit_chain_key

    def request(tx: Tx) -> Row:
        row = store.insert_request(tx, before, actor.actor_id, utc_now_iso(), reason.strip()[:300])
        append_sync(tx, key, actor, "purge_request", "ok", None, purge_id=row["purge_id"], before=before)
        return row

    return _as_json(await core.db.write(request))


async def list_purges(core: ServerCore) -> list[dict[str, Any]]:
    return [_as_json(r) for r in await core.db.read(store.purges)]


def _erase(key: bytes, actor: Actor, row: Row, cutoff: str, tx: Tx) -> None:
    """The purge in one transaction: issuance records and payments before ``cutoff`` deleted, audit rows'
    personal field erased, the purge recorded done with what it erased, and audited."""
    erased = issuance.erase_before(tx, cutoff)
    erased["payments"] = payments.erase_before(tx, cutoff)
    erased["audit_rows_erased"] = audit_store.erase_subjects_before(tx, cutoff)
    purge_id = row["purge_id"]
    store.mark_done(tx, purge_id, actor.actor_id, utc_now_iso(), json.dumps(erased))
    append_sync(
        tx, key, actor, "purge", "done", None, purge_id=purge_id, before=row["before"], cutoff=cutoff,
        requested_by=row["requested_by"], approved_by=actor.actor_id, erased=erased,
    )  # fmt: skip


async def approve_purge(core: ServerCore, actor: Actor, purge_id: int) -> dict[str, Any]:
    """Carry out a requested purge: the approver is an administrator other than the requester."""
    row = await core.db.read(partial(store.purge, purge_id=purge_id))
    if row is None:
        raise ApiError(404, "purge_unknown", f"no purge request {purge_id}")
    if row["status"] != "requested":
        raise ApiError(409, "purge_not_pending", f"purge {purge_id} is {row['status']}")
    await check_approver(core.db, core.audit, actor, row["requested_by"], "purge_approve", purge_id=purge_id)
    cutoff = to_iso(cutoff_of(row["before"], core.settings.retention_days, jst_now().date()))
    key = core.secrets.audit_chain_key
    await core.db.secure_delete(True)  # deleted content is overwritten in the file
    try:
        await core.db.write(partial(_erase, key, actor, row, cutoff))
        await core.db.compact(ERASED_TABLES)  # outside any transaction: rewritten without what was erased
    finally:
        await core.db.secure_delete(False)
    return _as_json(await core.db.read(partial(store.purge, purge_id=purge_id)))
