"""Kiosk payments (owner of ``kiosk_payments``): a quote per request, the store device's payment against
it, the issue it pays for, and every refund recorded against it.

The order on the wire: quote (nothing issued) -> the kiosk takes the money -> issue carrying the quote id
and the payment reference -> print -> report. One quote is paid and issued at most once: a retried issue
gets the first answer again, so nothing is issued or charged twice.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.storage.database import Database, Transaction
from wire.clock import to_iso, utc_now
from wire.kiosk_api import ErrorCode


@dataclass(frozen=True)
class Quote:
    quote_id: str
    session_id: str
    request: dict[str, Any]
    copies: int
    fee_yen: int
    total_yen: int
    status: str
    payment_reference: str | None
    answer: dict[str, Any] | None
    refunded_yen: int

    def as_json(self) -> dict[str, Any]:
        """What the kiosk sees of a payment: the money taken and given back."""
        return {
            "quote_id": self.quote_id,
            "payment_reference": self.payment_reference,
            "paid_yen": self.total_yen if self.payment_reference else 0,
            "refunded_yen": self.refunded_yen,
        }


_COLUMNS = "quote_id, session_id, request, copies, fee_yen, total_yen, status, payment_reference, answer, refunded_yen"


def _quote(row: Any) -> Quote:
    return Quote(
        quote_id=row["quote_id"],
        session_id=row["session_id"],
        request=json.loads(row["request"]),
        copies=int(row["copies"]),
        fee_yen=int(row["fee_yen"]),
        total_yen=int(row["total_yen"]),
        status=row["status"],
        payment_reference=row["payment_reference"],
        answer=json.loads(row["answer"]) if row["answer"] else None,
        refunded_yen=int(row["refunded_yen"]),
    )


async def create_quote(
    db: Database, session_id: str, kiosk_id: str, request: dict[str, Any], copies: int, fee_yen: int
) -> Quote:
    now = to_iso(utc_now())
    quote_id = secrets.token_urlsafe(12)
    await db.execute(
        f"INSERT INTO kiosk_payments ({_COLUMNS}, kiosk_id, created_at, updated_at)"  # noqa: S608  table, column and placeholder text from constants; values are bound
        " VALUES (?, ?, ?, ?, ?, ?, 'quoted', NULL, NULL, 0, ?, ?, ?)",
        (quote_id, session_id, json.dumps(request), copies, fee_yen, fee_yen * copies, kiosk_id, now, now),
    )
    return await quote_of(db, session_id, quote_id)


async def quote_of(db: Database | Transaction, session_id: str, quote_id: str) -> Quote:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM kiosk_payments WHERE quote_id = ? AND session_id = ?",  # noqa: S608  table, column and placeholder text from constants; values are bound
        (quote_id, session_id),
    )
    if row is None:
        raise ApiError(404, ErrorCode.QUOTE_UNKNOWN, "no such quote in this session; ask for a new quote")
    return _quote(row)


async def start_issue(db: Database, session_id: str, quote_id: str, reference: str) -> Quote:
    """Record the payment and claim the quote for issuing. A quote already issued with this payment is
    returned as it is (its stored answer is repeated); any other state refuses with a stable code."""
    async with db.transaction() as tx:
        quote = await quote_of(tx, session_id, quote_id)
        if quote.payment_reference not in (None, reference):
            raise ApiError(
                409, ErrorCode.PAYMENT_MISMATCH, "this quote was paid with another payment reference"
            )
        if quote.status in ("issued", "refunded"):
            return quote
        if quote.status == "issuing":
            raise ApiError(409, ErrorCode.ISSUE_IN_PROGRESS, "this quote is being issued; ask again shortly")
        await tx.execute(
            "UPDATE kiosk_payments SET status = 'issuing', payment_reference = ?, updated_at = ?"
            " WHERE quote_id = ?",
            (reference, to_iso(utc_now()), quote_id),
        )
        return await quote_of(tx, session_id, quote_id)


async def mark_issued(tx: Transaction, quote_id: str, answer: dict[str, Any]) -> bool:
    """In the transaction that records the issuances: the quote's answer, repeated to a retry. False
    when the quote is no longer being issued (its session ended meanwhile and refunded it)."""
    changed = await tx.execute(
        "UPDATE kiosk_payments SET status = 'issued', answer = ?, updated_at = ?"
        " WHERE quote_id = ? AND status = 'issuing'",
        (json.dumps(answer), to_iso(utc_now()), quote_id),
    )
    return changed == 1


async def release(db: Database, quote_id: str) -> None:
    """Issuing failed for a passing reason (the replica was catching up): the paid quote may be retried."""
    await db.execute(
        "UPDATE kiosk_payments SET status = 'paid', updated_at = ? WHERE quote_id = ? AND status = 'issuing'",
        (to_iso(utc_now()), quote_id),
    )


async def refund_in_full(db: Database | Transaction, quote_id: str) -> None:
    """Nothing was issued for a paid quote (refused, or the session ended first): all the money back."""
    await db.execute(
        "UPDATE kiosk_payments SET status = 'refunded', refunded_yen = total_yen, updated_at = ?"
        " WHERE quote_id = ? AND status IN ('paid', 'issuing')",
        (to_iso(utc_now()), quote_id),
    )


async def add_refund(tx: Transaction, serial: str, refund_yen: int) -> None:
    """A certificate of an issued quote was voided: its fee goes back, recorded against the payment."""
    await tx.execute(
        "UPDATE kiosk_payments SET refunded_yen = refunded_yen + ?, updated_at = ?"
        " WHERE quote_id = (SELECT payment_id FROM issuances WHERE serial = ?)",
        (refund_yen, to_iso(utc_now()), serial),
    )


async def close_session(db: Database, session_id: str) -> None:
    """First thing at the end of a session: paid quotes not yet issued are refunded in full, so an issue
    still running for the session can no longer complete (:func:`mark_issued` refuses)."""
    await db.execute(
        "UPDATE kiosk_payments SET status = 'refunded', refunded_yen = total_yen, updated_at = ?"
        " WHERE session_id = ? AND status IN ('paid', 'issuing')",
        (to_iso(utc_now()), session_id),
    )


async def of_session(tx: Transaction, session_id: str) -> list[dict[str, Any]]:
    """Every payment of the session with what was paid and refunded, so the kiosk gives back exactly
    what is owed."""
    rows = await tx.fetchall(
        f"SELECT {_COLUMNS} FROM kiosk_payments WHERE session_id = ? AND payment_reference IS NOT NULL",  # noqa: S608  table, column and placeholder text from constants; values are bound
        (session_id,),
    )
    return [_quote(r).as_json() for r in rows]


async def payment_of_serial(db: Database, serial: str) -> dict[str, Any] | None:
    row = await db.fetchone(
        f"SELECT {_COLUMNS} FROM kiosk_payments WHERE quote_id = (SELECT payment_id FROM issuances WHERE serial = ?)",  # noqa: S608  table, column and placeholder text from constants; values are bound
        (serial,),
    )
    return _quote(row).as_json() if row is not None else None


async def refund_abandoned(db: Database, before: str) -> int:
    """Paid quotes never issued whose session can no longer end them (a kiosk or the server restarted):
    refunded in full, so no payment is left without an answer."""
    return await db.execute(
        "UPDATE kiosk_payments SET status = 'refunded', refunded_yen = total_yen, updated_at = ?"
        " WHERE status IN ('paid', 'issuing') AND updated_at < ?",
        (to_iso(utc_now()), before),
    )


async def erase_before(tx: Transaction, cutoff: str) -> int:
    """Delete the kiosk payments created before ``cutoff`` (a purge past retention); how many."""
    return await tx.execute("DELETE FROM kiosk_payments WHERE created_at < ?", (cutoff,))
