"""The kiosk sessions table (``kiosk_sessions``): the one place its SQL lives.

A session is a row from its opening until a minute after it ended or went idle (the per-kiosk opening
limit counts the last minute's rows); times are seconds since the epoch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("kiosk_sessions",)

_COLUMNS: Final = (
    "session_id, kiosk_id, nonce, nonce_expires_at, nonce_used, last_seen_at, atena_no, registration_id, ended,"
    " auth_digest, credential_sha256, credential_form"
)


@dataclass(frozen=True)
class KioskSession:
    session_id: str
    kiosk_id: str
    nonce: str
    nonce_expires_at: float
    nonce_used: bool
    last_seen_at: float
    atena_no: str | None
    registration_id: int | None
    ended: bool
    auth_digest: str | None = None  # the signed-in request's digest: the same request again is answered again
    credential_sha256: str | None = None  # hex SHA-256 of the authenticated credential certificate's DER
    credential_form: str | None = None  # card, android or iphone (sessions signed in before issue 34: None)

    @property
    def authenticated(self) -> bool:
        return self.atena_no is not None


def _session(row: Row) -> KioskSession:
    return KioskSession(
        row["session_id"], row["kiosk_id"], row["nonce"], float(row["nonce_expires_at"]), bool(row["nonce_used"]),
        float(row["last_seen_at"]), row["atena_no"], row["registration_id"], bool(row["ended"]),
        row["auth_digest"], row["credential_sha256"], row["credential_form"],
    )  # fmt: skip


def insert(
    tx: Tx,
    session_id: str,
    kiosk_id: str,
    nonce: str,
    nonce_expires_at: float,
    now: float,
    request_id: str | None,
) -> None:
    tx.execute(
        "INSERT INTO kiosk_sessions (session_id, kiosk_id, nonce, nonce_expires_at, opened_at, last_seen_at,"
        " open_request_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (session_id, kiosk_id, nonce, nonce_expires_at, now, now, request_id),
    )


def opened_by_request(tx: Tx, kiosk_id: str, request_id: str) -> KioskSession | None:
    """The session the kiosk's opening ``request_id`` made, if one did."""
    row = tx.one(
        f"SELECT {_COLUMNS} FROM kiosk_sessions WHERE kiosk_id = ? AND open_request_id = ?",  # noqa: S608  column list from a constant; values are bound
        (kiosk_id, request_id),
    )
    return None if row is None else _session(row)


def opened_since(tx: Tx, kiosk_id: str, since: float) -> list[float]:
    """When the kiosk's sessions opened after ``since``, oldest first."""
    rows = tx.all(
        "SELECT opened_at FROM kiosk_sessions WHERE kiosk_id = ? AND opened_at > ? ORDER BY opened_at",
        (kiosk_id, since),
    )
    return [float(r["opened_at"]) for r in rows]


def live_count(tx: Tx, kiosk_id: str, seen_after: float) -> int:
    """The kiosk's sessions not ended and seen after ``seen_after``."""
    return int(
        tx.value(
            "SELECT count(*) FROM kiosk_sessions WHERE kiosk_id = ? AND ended = 0 AND last_seen_at > ?",
            (kiosk_id, seen_after),
        )
    )


def session(tx: Tx, session_id: str) -> KioskSession | None:
    row = tx.one(f"SELECT {_COLUMNS} FROM kiosk_sessions WHERE session_id = ?", (session_id,))  # noqa: S608  column list from a constant; values are bound
    return None if row is None else _session(row)


def touch(tx: Tx, session_id: str, now: float) -> None:
    tx.execute("UPDATE kiosk_sessions SET last_seen_at = ? WHERE session_id = ?", (now, session_id))


def spend_nonce(tx: Tx, session_id: str, digest: str) -> bool:
    """Mark the session's nonce used by the authenticate request ``digest``; False if it already was (by
    this node or another)."""
    return (
        tx.execute(
            "UPDATE kiosk_sessions SET nonce_used = 1, auth_digest = ? WHERE session_id = ? AND nonce_used = 0",
            (digest, session_id),
        )
        == 1
    )


def answered(tx: Tx, session_id: str) -> None:
    """The authenticate request that spent the nonce was answered with a refusal: not to be tried again."""
    tx.execute("UPDATE kiosk_sessions SET auth_digest = NULL WHERE session_id = ?", (session_id,))


def sign_in(
    tx: Tx, session_id: str, atena_no: str, registration_id: int, credential_sha256: str, form: str
) -> None:
    """The request that spent the nonce signed the resident in with the credential (of ``form``) whose
    certificate DER has ``credential_sha256`` (its digest stays: the same request again is answered again)."""
    tx.execute(
        "UPDATE kiosk_sessions SET atena_no = ?, registration_id = ?, credential_sha256 = ?, credential_form = ?"
        " WHERE session_id = ?",
        (atena_no, registration_id, credential_sha256, form, session_id),
    )


def end(tx: Tx, session_id: str) -> bool:
    """End the session; False if it had already ended."""
    return (
        tx.execute("UPDATE kiosk_sessions SET ended = 1 WHERE session_id = ? AND ended = 0", (session_id,))
        == 1
    )


def end_for_kiosk(tx: Tx, kiosk_id: str) -> int:
    return tx.execute("UPDATE kiosk_sessions SET ended = 1 WHERE kiosk_id = ? AND ended = 0", (kiosk_id,))


def live_ids(tx: Tx, seen_after: float) -> frozenset[str]:
    rows = tx.all("SELECT session_id FROM kiosk_sessions WHERE ended = 0 AND last_seen_at > ?", (seen_after,))
    return frozenset(r["session_id"] for r in rows)


def open_count(tx: Tx, seen_after: float) -> int:
    return int(
        tx.value("SELECT count(*) FROM kiosk_sessions WHERE ended = 0 AND last_seen_at > ?", (seen_after,))
    )


def prune(tx: Tx, opened_before: float, seen_before: float) -> int:
    """Forget sessions that opened before ``opened_before`` and ended or were last seen before
    ``seen_before``; how many."""
    return tx.execute(
        "DELETE FROM kiosk_sessions WHERE opened_at < ? AND (ended = 1 OR last_seen_at < ?)",
        (opened_before, seen_before),
    )
