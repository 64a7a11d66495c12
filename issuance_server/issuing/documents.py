"""Certificate documents after issuing: fetched only by whoever issued them, dropped once printed,
voided and refunded when a print fails or is never reported."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import partial
from typing import Any, NamedTuple

from issuance_server.api_errors import ApiError, field
from issuance_server.audit.trail import SYSTEM, Actor, AuditLog
from issuance_server.core import ServerCore
from issuance_server.issuing import store
from issuance_server.kiosks.sessions import SessionStore
from issuance_server.payments import ledger as payments
from issuance_server.storage.engine import DatabaseUnavailable, Row, Tx
from wire.clock import to_iso, utc_now
from wire.kiosk_api import (
    ErrorCode,
)
from wire.print_guard import Finding

log = logging.getLogger("konbini.documents")


def document_for_session(tx: Tx, session_id: str, serial: str) -> bytes:
    """The PDF of ``serial``, only to the session that issued it and only until it is printed."""
    row = store.document_of_session(tx, serial, session_id)
    if row is None:
        raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate in this session")
    return _pdf(row)


def document_at_counter(tx: Tx, actor: Actor, serial: str) -> bytes:
    """The PDF of a certificate issued at the counter, to the clerk who issued it, until it is printed."""
    row = store.document_at_counter(tx, serial, actor.actor_id)
    if row is None:
        raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate issued at the counter")
    return _pdf(row)


def _pdf(row: Row) -> bytes:
    if row["pdf"] is None:
        raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row['status']}")
    return bytes(row["pdf"])


class GuardReport(NamedTuple):
    """What a terminal's print guard found in a PDF it would not print (:mod:`wire.print_guard`)."""

    finding: Finding
    sheet: int  # the page where it was found, 0 for the file as a whole


def print_report_of(data: dict[str, Any]) -> tuple[bool, GuardReport | None]:
    """A print report's body: ``printed``, and with ``printed: false`` an optional ``guard``
    (``{"finding": <code>, "sheet": <n>}``) when the terminal's print guard refused the PDF."""
    printed = field(data, "printed", bool)
    guard = field(data, "guard", dict, required=False)
    if guard is None:
        return printed, None
    if printed:
        raise ApiError(
            400, ErrorCode.BAD_FIELD, "a certificate the print guard stopped was not printed", field="guard"
        )
    try:
        finding = Finding(guard.get("finding"))
    except ValueError:
        known = ", ".join(f.value for f in Finding)
        raise ApiError(
            400, ErrorCode.BAD_FIELD, f"guard.finding must be one of {known}", field="guard"
        ) from None
    sheet = guard.get("sheet", 0)
    if not isinstance(sheet, int) or isinstance(sheet, bool) or not 0 <= sheet <= MAX_SHEETS:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"guard.sheet must be 0-{MAX_SHEETS}", field="guard")
    return False, GuardReport(finding, sheet)


MAX_SHEETS = 255


def kiosk_print_report_of(data: dict[str, Any]) -> tuple[bool, GuardReport | None, bool]:
    """A kiosk's print report: :func:`print_report_of`, and ``in_doubt: true`` (with ``printed: false``) when
    the printer has the job and stopped answering before it could say whether the page came out."""
    printed, guard = print_report_of(data)
    in_doubt = field(data, "in_doubt", bool, required=False) or False
    if in_doubt and (printed or guard is not None):
        raise ApiError(
            400, ErrorCode.BAD_FIELD, "a print in doubt is neither printed nor stopped", field="in_doubt"
        )
    return printed, guard, in_doubt


def report_print(
    tx: Tx,
    audit: AuditLog,
    actor: Actor,
    session_id: str | None,
    serial: str,
    printed: bool,
    guard: GuardReport | None = None,
    *,
    in_doubt: bool = False,
) -> tuple[str, str | None]:
    """printed -> 'printed'; print failed -> 'voided' with the fee refunded. The PDF is dropped either way; a
    report repeated is answered as the first, changing nothing. A report from the terminal's print guard
    (``guard``) also writes an alarm row (``print_guard``), which the monthly review lists. ``in_doubt``:
    -> 'in_doubt', the certificate kept (not voided, not refunded) until the kiosk's final report.
    ``session_id`` None: a counter certificate, reported by the clerk who issued it, or (``actor`` a kiosk)
    a kiosk's certificate in doubt, reported after its session. The new status and the payment (quote id)
    the certificate was paid with."""
    new_status = "printed" if printed else "voided"
    row = _reported(tx, actor, session_id, serial)
    if in_doubt:
        return _in_doubt(tx, audit, actor, serial, row), row["payment_id"]
    if row["status"] == new_status:  # the same report again (its answer was lost): the same answer
        return new_status, row["payment_id"]
    if row["status"] != "issued":
        raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row['status']}")
    if session_id is None and actor.kind == "kiosk" and row["print_in_doubt_at"] is None:
        raise ApiError(409, ErrorCode.SESSION_STATE, "only a print in doubt is reported outside its session")
    refund = 0 if printed else int(row["fee_yen"])
    store.set_status(tx, serial, new_status, refund, to_iso(utc_now()))
    details: dict[str, Any] = {"serial": serial}
    if not printed:
        details["refund_yen"] = refund
        payments.add_refund(tx, row["payment_id"], refund)
    if guard is not None:
        details["guard"] = guard.finding.value
    audit.record(tx, actor, "print_report", new_status, row["holder_atena_no"], **details)
    if guard is not None:
        audit.record(
            tx, actor, "print_guard", "alarm", row["holder_atena_no"], serial=serial,
            finding=guard.finding.value, sheet=guard.sheet,
        )  # fmt: skip
        log.warning(
            "print guard alarm from %s %s: %s (sheet %d)",
            actor.kind,
            actor.actor_id,
            guard.finding,
            guard.sheet,
        )
    return new_status, row["payment_id"]


def _reported(tx: Tx, actor: Actor, session_id: str | None, serial: str) -> Row:
    if session_id is not None:
        row = store.issuance_of_session(tx, serial, session_id)
    elif actor.kind == "kiosk":
        row = store.issuance_of_kiosk(tx, serial, actor.actor_id)
    else:
        row = store.issuance_at_counter(tx, serial, actor.actor_id)
    if row is None:
        raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate in this session")
    return row


def _in_doubt(tx: Tx, audit: AuditLog, actor: Actor, serial: str, row: Row) -> str:
    if row["status"] != "issued":
        raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row['status']}")
    if row["print_in_doubt_at"] is None:  # else: the same report again, the same answer
        store.mark_in_doubt(tx, serial, to_iso(utc_now()))
        audit.record(tx, actor, "print_report", "in_doubt", row["holder_atena_no"], serial=serial)
    return "in_doubt"


def prints_in_doubt(tx: Tx) -> dict[str, Any]:
    """For ops: certificates whose kiosk's printer stopped answering with the job, not yet settled (their
    kiosk settles each once its printer answers; one that stays means a printer or a kiosk to look at)."""
    row = store.in_doubt(tx)
    return {"count": int(row["n"]), "oldest_since": row["oldest"]}


def void_unprinted(
    tx: Tx,
    audit: AuditLog,
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
    if session_id is not None:
        rows = store.unprinted_of_session(tx, session_id)
    else:
        assert issued_before is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        rows = store.unprinted_before(tx, issued_before)
    rows = [r for r in rows if r["session_id"] not in keep_sessions]
    now = to_iso(utc_now())
    for row in rows:
        store.set_status(tx, row["serial"], "voided", int(row["fee_yen"]), now)
        payments.add_refund(tx, row["payment_id"], int(row["fee_yen"]))
        audit.record(
            tx, actor, "void_unprinted", "voided", row["holder_atena_no"], serial=row["serial"],
            refund_yen=row["fee_yen"], reason=reason,
        )  # fmt: skip
    return len(rows)


def _sweep(audit: AuditLog, cutoff: str, sessions: SessionStore, tx: Tx) -> None:
    live = sessions.live_ids(tx)
    void_unprinted(tx, audit, SYSTEM, "never reported printed", issued_before=cutoff, keep_sessions=live)
    sessions.forget_old(tx)
    if payments.refund_abandoned(tx, cutoff, keep_sessions=live):
        audit.record(tx, SYSTEM, "refund_abandoned_payments", "refunded")


async def sweep_unprinted(core: ServerCore, every_s: float = 30.0) -> None:
    """Background task: void what was issued and never printed, and refund what was paid and never
    issued, once its session can no longer report it (twice the idle timeout: a session expired, a
    kiosk or the server restarted)."""
    while True:
        await asyncio.sleep(every_s)
        cutoff = to_iso(utc_now() - timedelta(seconds=2 * core.settings.session_idle_s))
        try:
            await core.db.write(partial(_sweep, core.audit, cutoff, core.sessions))
        except DatabaseUnavailable as exc:  # the next sweep does it
            log.warning("sweeping unprinted certificates waits for the database: %s", exc)
        except Exception:  # keep sweeping; say what went wrong
            log.exception("sweeping unprinted certificates failed")
