"""The issuing domain's tables: the one place their SQL lives.

``issuances`` (one row per certificate), ``issuance_documents`` (its PDF until printed),
``issuance_sources`` (the records as printed, for reconciliation), ``serial_counter`` and ``serial_series``.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any, Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("issuances", "issuance_documents", "issuance_sources", "serial_counter", "serial_series")

# --- serials ---


def next_serial(tx: Tx, day: str) -> str:
    """The next serial of ``day`` (``YYYYMMDD``) in the current series."""
    prefix = tx.value("SELECT prefix FROM serial_series ORDER BY series_no DESC LIMIT 1")
    assert prefix is not None, "migration 0009 makes the first series"  # noqa: S101  an invariant that narrows a type, not a check of input
    tx.execute(
        "INSERT INTO serial_counter (day, last) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET last = serial_counter.last + 1",
        (day,),
    )
    count = tx.value("SELECT last FROM serial_counter WHERE day = ?", (day,))
    return f"{day}-{prefix}-{int(count):06d}"


def start_series(tx: Tx, reason: str) -> str:
    """Start a new series and return its prefix (the day counters start again)."""
    while True:
        prefix = secrets.token_hex(3).upper()
        started = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if tx.execute(
            "INSERT INTO serial_series (prefix, started_at, reason, series_no)"
            " SELECT ?, ?, ?, (SELECT coalesce(max(series_no), 0) + 1 FROM serial_series)"
            " WHERE NOT EXISTS (SELECT 1 FROM serial_series WHERE prefix = ?)",
            (prefix, started, reason, prefix),
        ):
            tx.execute("DELETE FROM serial_counter")
            return prefix
        # the same 24 random bits again: draw once more


# --- issuances ---


def insert_issuance(tx: Tx, row: dict[str, Any], pdf: bytes, sources: str) -> None:
    """A certificate issued: its record, its PDF (until printed) and the records it printed."""
    tx.execute(
        "INSERT INTO issuances (serial, kind, options, atena_nos, channel, terminal, session_id, fee_yen,"
        " status, mode, data_as_of, content_digest, pages, issued_at, updated_at, record_versions, issued_by,"
        " holder_atena_no, payment_id) VALUES (:serial, :kind, :options, :atena_nos, :channel, :terminal,"
        " :session_id, :fee_yen, 'issued', :mode, :data_as_of, :content_digest, :pages, :issued_at, :issued_at,"
        " :record_versions, :issued_by, :holder_atena_no, :payment_id)",
        row,
    )
    tx.execute("INSERT INTO issuance_documents (serial, pdf) VALUES (?, ?)", (row["serial"], pdf))
    tx.execute("INSERT INTO issuance_sources (serial, records) VALUES (?, ?)", (row["serial"], sources))


def document_of_session(tx: Tx, serial: str, session_id: str) -> Row | None:
    """(pdf, status) of a kiosk session's certificate; pdf None once printed or voided."""
    return tx.one(
        "SELECT d.pdf AS pdf, i.status AS status FROM issuances i LEFT JOIN issuance_documents d USING (serial)"
        " WHERE i.serial = ? AND i.session_id = ?",
        (serial, session_id),
    )


def document_at_counter(tx: Tx, serial: str, clerk: str) -> Row | None:
    """(pdf, status) of a certificate issued at the counter by ``clerk``."""
    return tx.one(
        "SELECT d.pdf AS pdf, i.status AS status FROM issuances i LEFT JOIN issuance_documents d USING (serial)"
        " WHERE i.serial = ? AND i.channel = 'counter' AND i.issued_by = ?",
        (serial, clerk),
    )


_REPORTED = (
    "SELECT status, holder_atena_no, fee_yen, payment_id, print_in_doubt_at FROM issuances WHERE serial = ?"
)


def issuance_of_session(tx: Tx, serial: str, session_id: str) -> Row | None:
    return tx.one(_REPORTED + " AND session_id = ?", (serial, session_id))


def issuance_at_counter(tx: Tx, serial: str, clerk: str) -> Row | None:
    return tx.one(_REPORTED + " AND channel = 'counter' AND issued_by = ?", (serial, clerk))


def issuance_of_kiosk(tx: Tx, serial: str, kiosk_id: str) -> Row | None:
    return tx.one(_REPORTED + " AND channel = 'kiosk' AND issued_by = ?", (serial, kiosk_id))


def mark_in_doubt(tx: Tx, serial: str, now: str) -> None:
    """The kiosk's printer cannot say whether the page came out: no end of session or sweep voids it. Its
    PDF is dropped (the kiosk fetches it no more): nothing personal lingers however long the doubt lasts."""
    tx.execute(
        "UPDATE issuances SET print_in_doubt_at = ?, updated_at = ? WHERE serial = ?", (now, now, serial)
    )
    tx.execute("DELETE FROM issuance_documents WHERE serial = ?", (serial,))


def in_doubt(tx: Tx) -> Row:
    """How many kiosk prints are in doubt now, and since when the oldest."""
    row = tx.one(
        "SELECT count(*) AS n, min(print_in_doubt_at) AS oldest FROM issuances"
        " WHERE status = 'issued' AND print_in_doubt_at IS NOT NULL"
    )
    assert row is not None  # noqa: S101  an aggregate always answers one row
    return row


def status_of(tx: Tx, serial: str) -> str | None:
    value = tx.value("SELECT status FROM issuances WHERE serial = ?", (serial,))
    return None if value is None else str(value)


def set_status(tx: Tx, serial: str, status: str, refund_yen: int, now: str) -> None:
    """A certificate printed or voided (with its refund): its PDF is dropped."""
    tx.execute(
        "UPDATE issuances SET status = ?, refund_yen = ?, updated_at = ? WHERE serial = ?",
        (status, refund_yen, now, serial),
    )
    tx.execute("DELETE FROM issuance_documents WHERE serial = ?", (serial,))


def unprinted_of_session(tx: Tx, session_id: str) -> list[Row]:
    return tx.all(
        "SELECT serial, fee_yen, holder_atena_no, session_id, payment_id FROM issuances"
        " WHERE status = 'issued' AND print_in_doubt_at IS NULL AND session_id = ?",
        (session_id,),
    )


def unprinted_before(tx: Tx, issued_before: str) -> list[Row]:
    return tx.all(
        "SELECT serial, fee_yen, holder_atena_no, session_id, payment_id FROM issuances"
        " WHERE status = 'issued' AND print_in_doubt_at IS NULL AND issued_at < ?",
        (issued_before,),
    )


def issuances_of(tx: Tx, atena_no: str, limit: int) -> list[Row]:
    """A holder's certificates, newest first."""
    return tx.all(
        "SELECT serial, kind, channel, status, fee_yen, refund_yen, mode, issued_at FROM issuances"
        " WHERE holder_atena_no = ? ORDER BY issued_at DESC LIMIT ?",
        (atena_no, limit),
    )


def recovery_issuances(tx: Tx, since: str) -> list[Row]:
    """Certificates issued in recovery mode since ``since``, with the records they printed."""
    return tx.all(
        "SELECT i.serial, i.kind, i.channel, i.terminal, i.status, i.issued_at, i.data_as_of, s.records"
        " FROM issuances i JOIN issuance_sources s USING (serial)"
        " WHERE i.mode = 'recovery' AND i.issued_at >= ? ORDER BY i.issued_at",
        (since,),
    )


def erase_before(tx: Tx, cutoff: str) -> Row:
    """Delete the issuances issued before ``cutoff`` with their sources and PDFs: (count, first and last
    serial, first and last time) of what was deleted."""
    span = tx.one(
        "SELECT count(*) AS n, min(serial) AS first_serial, max(serial) AS last_serial,"
        " min(issued_at) AS first_at, max(issued_at) AS last_at FROM issuances WHERE issued_at < ?",
        (cutoff,),
    )
    assert span is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    for table in ("issuance_sources", "issuance_documents"):
        tx.execute(
            f"DELETE FROM {table} WHERE serial IN (SELECT serial FROM issuances WHERE issued_at < ?)",  # noqa: S608  table names from constants; values are bound
            (cutoff,),
        )
    tx.execute("DELETE FROM issuances WHERE issued_at < ?", (cutoff,))
    return span
