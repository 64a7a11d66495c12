"""The audit trail's tables (``audit_log``): the one place their SQL lives."""

from __future__ import annotations

from typing import Any

from issuance_server.storage.engine import Tx


def last_hash(tx: Tx) -> str | None:
    """The hash of the trail's last row (None: the trail is empty)."""
    value = tx.value("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    return None if value is None else str(value)


def insert(tx: Tx, row: dict[str, Any]) -> None:
    tx.execute(
        "INSERT INTO audit_log (at, actor_kind, actor_id, terminal, action, subject, subject_mac, result,"
        " details, prev_hash, hash, chain) VALUES (:at, :actor_kind, :actor_id, :terminal, :action, :subject,"
        " :subject_mac, :result, :details, :prev_hash, :hash, :chain)",
        row,
    )


def erase_subjects_before(tx: Tx, cutoff: str) -> int:
    """Erase the personal field of keyed rows written before ``cutoff``; how many held one."""
    return tx.execute(
        "UPDATE audit_log SET subject = NULL WHERE at < ? AND subject IS NOT NULL AND chain = 2", (cutoff,)
    )
