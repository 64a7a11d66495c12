"""The append-only, hash-chained audit log: who, which terminal, when, what, on whom, the result.

Each row's hash covers the previous row's hash and the row's own fields, so editing or deleting a row
breaks the chain at that point (:func:`verify_chain`). Details never hold names, 個人番号 or PINs.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from issuance_server.clock import utc_now_iso
from issuance_server.database import Database, Transaction

GENESIS = "0" * 64


def row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    canonical = json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256((prev_hash + canonical).encode()).hexdigest()


@dataclass(frozen=True)
class Actor:
    kind: str  # kiosk, staff, ops, system
    actor_id: str
    terminal: str


SYSTEM = Actor("system", "konbini-server", "server")


class AuditLog:
    """Appends go through :class:`Database`; inside a transaction use :meth:`append_in` so the audit row
    commits (or rolls back) with the action it records."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def append(
        self, actor: Actor, action: str, result: str, subject: str | None = None, **details: Any
    ) -> None:
        async with self._db.transaction() as tx:
            await self.append_in(tx, actor, action, result, subject, **details)

    async def append_in(
        self,
        tx: Transaction,
        actor: Actor,
        action: str,
        result: str,
        subject: str | None = None,
        **details: Any,
    ) -> None:
        row = await tx.fetchone(_LAST_HASH)
        await tx.execute(_INSERT, _row(row[0] if row else GENESIS, actor, action, result, subject, details))


_LAST_HASH = "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_INSERT = (
    "INSERT INTO audit_log (at, actor_kind, actor_id, terminal, action, subject, result, details, prev_hash, hash)"
    " VALUES (:at, :actor_kind, :actor_id, :terminal, :action, :subject, :result, :details, :prev_hash, :hash)"
)


def _row(
    prev_hash: str, actor: Actor, action: str, result: str, subject: str | None, details: Mapping[str, Any]
) -> dict[str, Any]:
    fields = {
        "at": utc_now_iso(),
        "actor_kind": actor.kind,
        "actor_id": actor.actor_id,
        "terminal": actor.terminal,
        "action": action,
        "subject": subject,
        "result": result,
        "details": json.dumps(details, ensure_ascii=False, sort_keys=True),
    }
    return {**fields, "prev_hash": prev_hash, "hash": row_hash(prev_hash, fields)}


def append_sync(
    conn: sqlite3.Connection,
    actor: Actor,
    action: str,
    result: str,
    subject: str | None = None,
    **details: Any,
) -> None:
    """For command-line tools writing the database directly, inside their own transaction."""
    row = conn.execute(_LAST_HASH).fetchone()
    conn.execute(_INSERT, _row(row[0] if row else GENESIS, actor, action, result, subject, details))


_ROW_FIELDS = ("at", "actor_kind", "actor_id", "terminal", "action", "subject", "result", "details")


def verify_chain(rows: Iterable[sqlite3.Row | Mapping[str, Any]]) -> int | None:
    """Return the seq of the first row that breaks the chain, or None when the whole chain holds."""
    prev = GENESIS
    for row in rows:
        fields = {name: row[name] for name in _ROW_FIELDS}
        if row["prev_hash"] != prev or row_hash(prev, fields) != row["hash"]:
            return int(row["seq"])
        prev = row["hash"]
    return None
