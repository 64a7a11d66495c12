"""The purges' table (``purges``): the one place its SQL lives. Backups keep no table: a backup is a
folder with its manifest (``backups.backup``)."""

from __future__ import annotations

from typing import Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("purges",)


def insert_request(tx: Tx, before: str, requested_by: str, requested_at: str, reason: str) -> Row:
    """A new purge request (``requested``), as stored."""
    row = tx.one(
        "INSERT INTO purges (before, requested_by, requested_at, reason, status)"
        " VALUES (?, ?, ?, ?, 'requested') RETURNING *",
        (before, requested_by, requested_at, reason),
    )
    assert row is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    return row


def purges(tx: Tx) -> list[Row]:
    """Every purge request, newest first."""
    return tx.all("SELECT * FROM purges ORDER BY purge_id DESC")


def purge(tx: Tx, purge_id: int) -> Row | None:
    return tx.one("SELECT * FROM purges WHERE purge_id = ?", (purge_id,))


def mark_done(tx: Tx, purge_id: int, approved_by: str, done_at: str, erased: str) -> None:
    """The purge carried out: who approved it, when, and what it erased (JSON)."""
    tx.execute(
        "UPDATE purges SET status = 'done', approved_by = ?, done_at = ?, erased = ? WHERE purge_id = ?",
        (approved_by, done_at, erased, purge_id),
    )
