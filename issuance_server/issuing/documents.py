"""Certificate documents after issuing: fetched only by whoever issued them, dropped once printed,
voided and refunded when a print fails or is never reported."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.audit.trail import SYSTEM, Actor
from issuance_server.core import ServerCore
from issuance_server.payments import ledger as payments
from wire.clock import to_iso, utc_now
from wire.kiosk_api import (
    ErrorCode,
)

log = logging.getLogger("konbini.documents")


async def document_for_session(core: ServerCore, session_id: str, serial: str) -> bytes:
    """The PDF of ``serial``, only to the session that issued it and only until it is printed."""
    row = await core.db.fetchone(
        "SELECT d.pdf, i.status FROM issuances i LEFT JOIN issuance_documents d USING (serial)"
        " WHERE i.serial = ? AND i.session_id = ?",
        (serial, session_id),
    )
    if row is None:
        raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate in this session")
    if row[0] is None:
        raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row[1]}")
    return bytes(row[0])


async def document_at_counter(core: ServerCore, actor: Actor, serial: str) -> bytes:
    """The PDF of a certificate issued at the counter, to the clerk who issued it, until it is printed."""
    row = await core.db.fetchone(
        "SELECT d.pdf, i.status FROM issuances i LEFT JOIN issuance_documents d USING (serial)"
        " WHERE i.serial = ? AND i.channel = 'counter' AND i.issued_by = ?",
        (serial, actor.actor_id),
    )
    if row is None:
        raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate issued at the counter")
    if row[0] is None:
        raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row[1]}")
    return bytes(row[0])


async def report_print(
    core: ServerCore, actor: Actor, session_id: str | None, serial: str, printed: bool
) -> str:
    """printed -> 'printed'; print failed -> 'voided' with the fee refunded. The PDF is dropped either way.
    ``session_id`` None: a counter certificate, reported by the clerk who issued it."""
    new_status = "printed" if printed else "voided"
    async with core.db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT status, holder_atena_no, fee_yen FROM issuances WHERE serial = ?"  # noqa: S608  table, column and placeholder text from constants; values are bound
            + (
                " AND session_id = ?"
                if session_id is not None
                else " AND channel = 'counter' AND issued_by = ?"
            ),
            (serial, session_id if session_id is not None else actor.actor_id),
        )
        if row is None:
            raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate in this session")
        if row[0] != "issued":
            raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row[0]}")
        refund = 0 if printed else int(row[2])
        await tx.execute(
            "UPDATE issuances SET status = ?, refund_yen = ?, updated_at = ? WHERE serial = ?",
            (new_status, refund, to_iso(utc_now()), serial),
        )
        await tx.execute("DELETE FROM issuance_documents WHERE serial = ?", (serial,))
        details: dict[str, Any] = {"serial": serial}
        if not printed:
            details["refund_yen"] = refund
            await payments.add_refund(tx, serial, refund)
        await core.audit.append_in(tx, actor, "print_report", new_status, row[1], **details)
    return new_status


async def void_unprinted(
    core: ServerCore,
    actor: Actor,
    reason: str,
    *,
    session_id: str | None = None,
    issued_before: str | None = None,
    keep_sessions: frozenset[str] = frozenset(),
) -> int:
    """Void (and refund) certificates issued but never reported printed: those of an ended session, or
    all issued before ``issued_before`` except those of sessions still live (``keep_sessions``: a long
    print run goes on). Their PDFs are deleted: nothing personal lingers."""
    where, params = (
        ("session_id = ?", (session_id,)) if session_id is not None else ("issued_at < ?", (issued_before,))
    )
    now = to_iso(utc_now())
    async with core.db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT serial, fee_yen, holder_atena_no, session_id FROM issuances WHERE status = 'issued' AND {where}",  # noqa: S608  table, column and placeholder text from constants; values are bound
            params,
        )
        rows = [r for r in rows if r["session_id"] not in keep_sessions]
        for row in rows:
            await tx.execute(
                "UPDATE issuances SET status = 'voided', refund_yen = fee_yen, updated_at = ? WHERE serial = ?",
                (now, row["serial"]),
            )
            await tx.execute("DELETE FROM issuance_documents WHERE serial = ?", (row["serial"],))
            await payments.add_refund(tx, row["serial"], int(row["fee_yen"]))
            await core.audit.append_in(
                tx, actor, "void_unprinted", "voided", row["holder_atena_no"], serial=row["serial"],
                refund_yen=row["fee_yen"], reason=reason,
            )  # fmt: skip
    return len(rows)


async def sweep_unprinted(core: ServerCore, every_s: float = 30.0) -> None:
    """Background task: void what was issued and never printed, and refund what was paid and never
    issued, once its session can no longer report it (twice the idle timeout: a session expired, a
    kiosk or the server restarted)."""
    while True:
        await asyncio.sleep(every_s)
        cutoff = to_iso(utc_now() - timedelta(seconds=2 * core.settings.session_idle_s))
        try:
            await void_unprinted(
                core,
                SYSTEM,
                "never reported printed",
                issued_before=cutoff,
                keep_sessions=core.sessions.live_ids(),
            )
            if await payments.refund_abandoned(core.db, cutoff):
                await core.audit.append(SYSTEM, "refund_abandoned_payments", "refunded")
        except Exception:  # keep sweeping; say what went wrong
            log.exception("sweeping unprinted certificates failed")
