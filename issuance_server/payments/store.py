"""The kiosk payments' table (``kiosk_payments``): the one place its SQL lives."""

from __future__ import annotations

from typing import Any, Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("kiosk_payments",)

_COLUMNS = (
    "quote_id, session_id, request, copies, fee_yen, total_yen, status, payment_reference, answer, refunded_yen,"
    " claim_owner, claim_expires_at"
)


def insert_quote(tx: Tx, row: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO kiosk_payments (quote_id, session_id, request, copies, fee_yen, total_yen, status,"
        " payment_reference, answer, refunded_yen, kiosk_id, created_at, updated_at, request_id) VALUES (:quote_id,"
        " :session_id, :request, :copies, :fee_yen, :total_yen, 'quoted', NULL, NULL, 0, :kiosk_id, :now, :now,"
        " :request_id)",
        row,
    )


def quote_by_request(tx: Tx, session_id: str, request_id: str) -> Row | None:
    return tx.one(
        f"SELECT {_COLUMNS} FROM kiosk_payments WHERE session_id = ? AND request_id = ?",  # noqa: S608  columns from a constant; values are bound
        (session_id, request_id),
    )


def quote(tx: Tx, session_id: str, quote_id: str) -> Row | None:
    return tx.one(
        f"SELECT {_COLUMNS} FROM kiosk_payments WHERE quote_id = ? AND session_id = ?",  # noqa: S608  columns from a constant; values are bound
        (quote_id, session_id),
    )


def quote_by_id(tx: Tx, quote_id: str) -> Row | None:
    return tx.one(f"SELECT {_COLUMNS} FROM kiosk_payments WHERE quote_id = ?", (quote_id,))  # noqa: S608  columns from a constant; values are bound


def paid_of_session(tx: Tx, session_id: str) -> list[Row]:
    return tx.all(
        f"SELECT {_COLUMNS} FROM kiosk_payments WHERE session_id = ? AND payment_reference IS NOT NULL",  # noqa: S608  columns from a constant; values are bound
        (session_id,),
    )


def claim_for_issue(tx: Tx, quote_id: str, reference: str, owner: str, expires_at: float, now: str) -> None:
    tx.execute(
        "UPDATE kiosk_payments SET status = 'issuing', payment_reference = ?, claim_owner = ?,"
        " claim_expires_at = ?, updated_at = ? WHERE quote_id = ?",
        (reference, owner, expires_at, now, quote_id),
    )


def mark_issued(tx: Tx, quote_id: str, owner: str, answer: str, now: str) -> bool:
    """False when the quote is no longer being issued by ``owner``."""
    return (
        tx.execute(
            "UPDATE kiosk_payments SET status = 'issued', answer = ?, updated_at = ?"
            " WHERE quote_id = ? AND status = 'issuing' AND claim_owner = ?",
            (answer, now, quote_id, owner),
        )
        == 1
    )


def release(tx: Tx, quote_id: str, owner: str, now: str) -> None:
    tx.execute(
        "UPDATE kiosk_payments SET status = 'paid', updated_at = ?"
        " WHERE quote_id = ? AND status = 'issuing' AND claim_owner = ?",
        (now, quote_id, owner),
    )


def refund_in_full(tx: Tx, quote_id: str, now: str) -> None:
    tx.execute(
        "UPDATE kiosk_payments SET status = 'refunded', refunded_yen = total_yen, updated_at = ?"
        " WHERE quote_id = ? AND status IN ('paid', 'issuing')",
        (now, quote_id),
    )


def add_refund(tx: Tx, quote_id: str, refund_yen: int, now: str) -> None:
    tx.execute(
        "UPDATE kiosk_payments SET refunded_yen = refunded_yen + ?, updated_at = ? WHERE quote_id = ?",
        (refund_yen, now, quote_id),
    )


def refund_session(tx: Tx, session_id: str, now: str) -> None:
    tx.execute(
        "UPDATE kiosk_payments SET status = 'refunded', refunded_yen = total_yen, updated_at = ?"
        " WHERE session_id = ? AND status IN ('paid', 'issuing')",
        (now, session_id),
    )


def abandoned(tx: Tx, before: str) -> list[Row]:
    return tx.all(
        "SELECT quote_id, session_id FROM kiosk_payments WHERE status IN ('paid', 'issuing') AND updated_at < ?",
        (before,),
    )


def erase_before(tx: Tx, cutoff: str) -> int:
    return tx.execute("DELETE FROM kiosk_payments WHERE created_at < ?", (cutoff,))
