"""Kiosk payments (owner of ``kiosk_payments``): a quote per request, the store device's payment against
it, the issue it pays for, and every refund recorded against it.

Functions of a transaction (``tx``): a handler runs them, with the audit row of its step, in one
``db.write``. The order on the wire: quote (nothing issued) -> the kiosk takes the money -> issue carrying the quote id
and the payment reference -> print -> report. One quote is paid and issued at most once: a retried issue
gets the first answer again, so nothing is issued or charged twice.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.payments import store
from issuance_server.storage.engine import Row, Tx
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
    claim_owner: str | None = None  # the node incarnation issuing it, while 'issuing'
    claim_expires_at: float | None = None  # when that claim lapses (seconds since the epoch)

    def as_json(self) -> dict[str, Any]:
        """What the kiosk sees of a payment: the money taken and given back."""
        return {
            "quote_id": self.quote_id,
            "payment_reference": self.payment_reference,
            "paid_yen": self.total_yen if self.payment_reference else 0,
            "refunded_yen": self.refunded_yen,
        }


def _quote(row: Row) -> Quote:
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
        claim_owner=row["claim_owner"],
        claim_expires_at=None if row["claim_expires_at"] is None else float(row["claim_expires_at"]),
    )


def _now() -> str:
    return to_iso(utc_now())


def create_quote(
    tx: Tx,
    session_id: str,
    kiosk_id: str,
    request: dict[str, Any],
    copies: int,
    fee_yen: int,
    request_id: str | None = None,
) -> Quote:
    """A new quote (``request_id``: the step's, kept to know it again: :func:`quote_of_request`)."""
    quote_id = secrets.token_urlsafe(12)
    store.insert_quote(
        tx,
        {
            "quote_id": quote_id,
            "session_id": session_id,
            "request": json.dumps(request),
            "copies": copies,
            "fee_yen": fee_yen,
            "total_yen": fee_yen * copies,
            "kiosk_id": kiosk_id,
            "now": _now(),
            "request_id": request_id,
        },
    )
    return quote_of(tx, session_id, quote_id)


def quote_of_request(tx: Tx, session_id: str, request_id: str) -> Quote | None:
    """The quote the step ``request_id`` of this session made before (its answer was lost), if it did."""
    row = store.quote_by_request(tx, session_id, request_id)
    return None if row is None else _quote(row)


def quote_of(tx: Tx, session_id: str, quote_id: str) -> Quote:
    row = store.quote(tx, session_id, quote_id)
    if row is None:
        raise ApiError(404, ErrorCode.QUOTE_UNKNOWN, "no such quote in this session; ask for a new quote")
    return _quote(row)


@dataclass(frozen=True)
class Claimant:
    """Who claims a quote for issuing: a node incarnation, for ``claim_s`` seconds from ``now``;
    ``alive(tx, owner)`` says whether another claim's owner still runs (a node seen lately, not restarted)."""

    owner: str
    now: float
    claim_s: float
    alive: Callable[[Tx, str], bool]


def start_issue(tx: Tx, session_id: str, quote_id: str, reference: str, claimant: Claimant) -> Quote:
    """Record the payment and claim the quote for issuing. A quote already issued with this payment is
    returned as it is (its stored answer is repeated); a claim whose node died or whose time ran out is
    taken over (that node can no longer record its issue: :func:`mark_issued` names the owner); any other
    state refuses with a stable code."""
    quote = quote_of(tx, session_id, quote_id)
    if quote.payment_reference not in (None, reference):
        raise ApiError(409, ErrorCode.PAYMENT_MISMATCH, "this quote was paid with another payment reference")
    if quote.status in ("issued", "refunded"):
        return quote
    if quote.status == "issuing" and not _claim_lapsed(tx, quote, claimant):
        raise ApiError(409, ErrorCode.ISSUE_IN_PROGRESS, "this quote is being issued; ask again shortly")
    store.claim_for_issue(tx, quote_id, reference, claimant.owner, claimant.now + claimant.claim_s, _now())
    return quote_of(tx, session_id, quote_id)


def _claim_lapsed(tx: Tx, quote: Quote, claimant: Claimant) -> bool:
    if quote.claim_owner is None or quote.claim_expires_at is None:
        return True  # claimed by a server before claims had owners
    if quote.claim_expires_at <= claimant.now:
        return True
    return quote.claim_owner != claimant.owner and not claimant.alive(tx, quote.claim_owner)


def mark_issued(tx: Tx, quote_id: str, owner: str, answer: dict[str, Any]) -> bool:
    """In the transaction that records the issuances: the quote's answer, repeated to a retry. False
    when the quote is no longer being issued by ``owner`` (its session ended meanwhile and refunded it, or
    another node took the claim over)."""
    return store.mark_issued(tx, quote_id, owner, json.dumps(answer), _now())


def release(tx: Tx, quote_id: str, owner: str) -> None:
    """Issuing failed for a passing reason (the replica was catching up): the paid quote may be retried."""
    store.release(tx, quote_id, owner, _now())


def refund_in_full(tx: Tx, quote_id: str) -> None:
    """Nothing was issued for a paid quote (refused, or the session ended first): all the money back."""
    store.refund_in_full(tx, quote_id, _now())


def add_refund(tx: Tx, quote_id: str | None, refund_yen: int) -> None:
    """A certificate of an issued quote (``quote_id``: the issuance's payment) was voided: its fee goes
    back, recorded against the payment."""
    if quote_id is not None:
        store.add_refund(tx, quote_id, refund_yen, _now())


def close_session(tx: Tx, session_id: str) -> None:
    """First thing at the end of a session: paid quotes not yet issued are refunded in full, so an issue
    still running for the session can no longer complete (:func:`mark_issued` refuses)."""
    store.refund_session(tx, session_id, _now())


def of_session(tx: Tx, session_id: str) -> list[dict[str, Any]]:
    """Every payment of the session with what was paid and refunded, so the kiosk gives back exactly
    what is owed."""
    return [_quote(r).as_json() for r in store.paid_of_session(tx, session_id)]


def payment_of(tx: Tx, quote_id: str | None) -> dict[str, Any] | None:
    """The payment ``quote_id`` as the kiosk sees it (None: no payment, e.g. a counter certificate)."""
    row = store.quote_by_id(tx, quote_id) if quote_id is not None else None
    return _quote(row).as_json() if row is not None else None


def refund_abandoned(tx: Tx, before: str, keep_sessions: frozenset[str] = frozenset()) -> int:
    """Paid quotes never issued whose session can no longer end them (a kiosk or the server restarted):
    refunded in full, so no payment is left without an answer. A quote of a session still live
    (``keep_sessions``) is its kiosk's to finish, whatever the wall clock says."""
    now = _now()
    rows = [r for r in store.abandoned(tx, before) if r["session_id"] not in keep_sessions]
    for row in rows:
        store.refund_in_full(tx, row["quote_id"], now)
    return len(rows)


def erase_before(tx: Tx, cutoff: str) -> int:
    """Delete the kiosk payments created before ``cutoff`` (a purge past retention); how many."""
    return store.erase_before(tx, cutoff)
