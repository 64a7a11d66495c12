"""The audit trail's tables (``audit_log``, ``audit_reviews``, ``durability_mark``): the one place their
SQL lives."""

from __future__ import annotations

from typing import Any, Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("audit_log", "audit_reviews", "durability_mark")


def last_hash(tx: Tx) -> str | None:
    """The hash of the trail's last row (None: the trail is empty)."""
    value = tx.value("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    return None if value is None else str(value)


def insert(tx: Tx, row: dict[str, Any]) -> None:
    """The next row: ``seq`` one past the last (writes run one at a time), so a trail cut back to an
    earlier row (a restore) goes on from there without a gap, on either engine."""
    tx.execute(
        "INSERT INTO audit_log (seq, at, actor_kind, actor_id, terminal, action, subject, subject_mac, result,"
        " details, prev_hash, hash, chain) VALUES ((SELECT coalesce(max(seq), 0) + 1 FROM audit_log), :at,"
        " :actor_kind, :actor_id, :terminal, :action, :subject, :subject_mac, :result, :details, :prev_hash,"
        " :hash, :chain)",
        row,
    )


def erase_subjects_before(tx: Tx, cutoff: str) -> int:
    """Erase the personal field of keyed rows written before ``cutoff``; how many held one."""
    return tx.execute(
        "UPDATE audit_log SET subject = NULL WHERE at < ? AND subject IS NOT NULL AND chain = 2", (cutoff,)
    )


def is_empty(tx: Tx) -> bool:
    """Whether the trail has no row at all."""
    return tx.one("SELECT 1 FROM audit_log LIMIT 1") is None


def head(tx: Tx) -> Row | None:
    """The last row's ``seq`` and ``hash`` (None: the trail is empty)."""
    return tx.one("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")


def rows(tx: Tx) -> list[Row]:
    """The whole trail, every column, in order."""
    return tx.all("SELECT * FROM audit_log ORDER BY seq")


def rows_from(tx: Tx, first: int) -> list[Row]:
    """The rows from ``seq`` ``first`` on, every column, in order."""
    return tx.all("SELECT * FROM audit_log WHERE seq >= ? ORDER BY seq", (first,))


def rows_between(tx: Tx, first: int, before: int) -> list[Row]:
    """The rows with ``first <= seq < before``, every column, in order."""
    return tx.all("SELECT * FROM audit_log WHERE seq >= ? AND seq < ? ORDER BY seq", (first, before))


def rows_written(tx: Tx, start: str, end: str) -> list[Row]:
    """The rows written in [``start``, ``end``) (UTC ISO), with what the month's review reads."""
    return tx.all(
        "SELECT seq, at, actor_kind, actor_id, terminal, action, result, details FROM audit_log"
        " WHERE at >= ? AND at < ? ORDER BY seq",
        (start, end),
    )


def mark_durable(tx: Tx, at: str) -> None:
    """The one-row commit that makes every earlier commit durable (``storage.sqlite_durability``)."""
    tx.execute(
        "INSERT INTO durability_mark (id, at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET at = excluded.at",
        (at,),
    )


def review_of(tx: Tx, month: str) -> Row | None:
    """Who reviewed ``month`` (``YYYY-MM``), when and with what comment; None: not reviewed."""
    return tx.one("SELECT * FROM audit_reviews WHERE month = ?", (month,))


def insert_review(tx: Tx, month: str, reviewed_by: str, reviewed_at: str, comment: str) -> None:
    tx.execute(
        "INSERT INTO audit_reviews (month, reviewed_by, reviewed_at, comment) VALUES (?, ?, ?, ?)",
        (month, reviewed_by, reviewed_at, comment),
    )
