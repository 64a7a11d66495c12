"""The append-only audit log: who, which terminal, when, what, on whom, the result; and the proof that it
was not rewritten.

- **A keyed chain.** Each row carries ``hash = HMAC(audit key, prev_hash + the row's fields)``; the key is
  ``secrets/audit-chain-key``, outside the database, so someone holding only the database can neither
  edit a row nor recompute the chain after it.
- **The subject by its MAC.** The chain covers ``subject_mac = HMAC(key, subject)``, not the 宛名番号
  itself: erasing the personal field of an old row (the desk's erasure, recorded elsewhere) leaves the
  chain whole, and a subject changed to another person no longer matches its MAC.
- **Signed checkpoints** of the head in a file outside the database (``audit_checkpoints``), checked and
  written by ``audit_guard``; verification rules in ``audit_verify``.

Details never hold names, 個人番号 or PINs. Rows written before the keyed chain (``chain = 1``) are
checked with the old unkeyed hash, and only up to where the keyed chain starts.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from issuance_server.audit import store
from issuance_server.storage.engine import Engine, Tx
from wire.clock import utc_now_iso

GENESIS = "0" * 64
KEYED = 2  # the chain version of rows written with the keyed chain
log = logging.getLogger("konbini.audit")


def canonical(fields: Any) -> str:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def legacy_row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The unkeyed hash of rows written before the keyed chain (``chain = 1``)."""
    return hashlib.sha256((prev_hash + canonical(fields)).encode()).hexdigest()


def row_mac(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hmac.new(key, (prev_hash + canonical(fields)).encode(), hashlib.sha256).hexdigest()


def subject_mac(key: bytes, subject: str | None) -> str:
    if subject is None:
        return ""
    return hmac.new(key, b"subject|" + subject.encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class Actor:
    kind: str  # kiosk, staff, ops, system
    actor_id: str
    terminal: str  # the kiosk, or the name a staff member's terminal gave at login (checked charset)
    peer: str = ""  # the network address the request came from (recorded in the row's details)


SYSTEM = Actor("system", "konbini-server", "server")


class AuditLog:
    """:meth:`append` writes a row in a transaction of its own; inside a store transaction (``db.write(fn)``)
    :meth:`record` writes it with the action it records, committed or rolled back together."""

    def __init__(self, db: Engine, key: bytes) -> None:
        self._db = db
        self._key = key

    async def append(
        self, actor: Actor, action: str, result: str, subject: str | None = None, **details: Any
    ) -> None:
        key = self._key  # in a transaction of its own: one hop to the database's thread
        await self._db.write(lambda tx: append_sync(tx, key, actor, action, result, subject, **details))

    def record(
        self, tx: Tx, actor: Actor, action: str, result: str, subject: str | None = None, **details: Any
    ) -> None:
        """Append inside a store transaction (``db.write(fn)``): the row commits with what it records."""
        append_sync(tx, self._key, actor, action, result, subject, **details)


_KEYED_FIELDS = ("at", "actor_kind", "actor_id", "terminal", "action", "subject_mac", "result", "details")
_LEGACY_FIELDS = ("at", "actor_kind", "actor_id", "terminal", "action", "subject", "result", "details")


def keyed_fields() -> tuple[str, ...]:
    """The fields a keyed row's MAC covers."""
    return _KEYED_FIELDS


def legacy_fields() -> tuple[str, ...]:
    """The fields an unkeyed row's hash covers."""
    return _LEGACY_FIELDS


def _row(
    key: bytes,
    prev_hash: str,
    actor: Actor,
    action: str,
    result: str,
    subject: str | None,
    details: Mapping[str, Any],
) -> dict[str, Any]:
    fields = {
        "at": utc_now_iso(),
        "actor_kind": actor.kind,
        "actor_id": actor.actor_id,
        "terminal": actor.terminal,
        "action": action,
        "subject_mac": subject_mac(key, subject),
        "result": result,
        "details": json.dumps(
            {**details, "peer": actor.peer} if actor.peer else details, ensure_ascii=False, sort_keys=True
        ),
    }
    return {
        **fields,
        "subject": subject,
        "prev_hash": prev_hash,
        "hash": row_mac(key, prev_hash, fields),
        "chain": KEYED,
    }


def append_sync(
    tx: Tx,
    key: bytes,
    actor: Actor,
    action: str,
    result: str,
    subject: str | None = None,
    **details: Any,
) -> None:
    """For command-line tools writing the database directly, inside their own transaction."""
    prev = store.last_hash(tx)
    store.insert(
        tx, _row(key, prev if prev is not None else GENESIS, actor, action, result, subject, details)
    )
