"""The append-only audit log: who, which terminal, when, what, on whom, the result; and the proof that it
was not rewritten.

- **A keyed chain.** Each row carries ``hash = HMAC(audit key, prev_hash + the row's fields)``; the key is
  ``secrets/audit-chain-key``, outside the database, so someone holding only the database can neither
  edit a row nor recompute the chain after it.
- **The subject by its MAC.** The chain covers ``subject_mac = HMAC(key, subject)``, not the 宛名番号
  itself: erasing the personal field of an old row (the desk's erasure, recorded elsewhere) leaves the
  chain whole, and a subject changed to another person no longer matches its MAC.
- **Signed checkpoints.** At an interval the server appends ``(seq, head)`` signed with its own Ed25519
  audit key to ``audit/checkpoints.log``, a file outside the database: deleting the tail or recomputing
  the chain (even with the chain key) disagrees with a checkpoint. A restore from backup appends a
  ``restore`` record, so the shorter log that follows is not read as a truncation.

Details never hold names, 個人番号 or PINs. Rows written before the keyed chain (``chain = 1``) are
checked with the old unkeyed hash up to where the keyed chain starts.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import logging
import os
import sqlite3
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from issuance_server.clock import utc_now_iso
from issuance_server.database import Database, Transaction

GENESIS = "0" * 64
KEYED = 2  # the chain version of rows written with the keyed chain
log = logging.getLogger("konbini.audit")


def _canonical(fields: Mapping[str, Any]) -> str:
    return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def legacy_row_hash(prev_hash: str, fields: Mapping[str, Any]) -> str:
    """The unkeyed hash of rows written before the keyed chain (``chain = 1``)."""
    return hashlib.sha256((prev_hash + _canonical(fields)).encode()).hexdigest()


def row_mac(key: bytes, prev_hash: str, fields: Mapping[str, Any]) -> str:
    return hmac.new(key, (prev_hash + _canonical(fields)).encode(), hashlib.sha256).hexdigest()


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
    """Appends go through :class:`Database`; inside a transaction use :meth:`append_in` so the audit row
    commits (or rolls back) with the action it records."""

    def __init__(self, db: Database, key: bytes) -> None:
        self._db = db
        self._key = key

    async def append(
        self, actor: Actor, action: str, result: str, subject: str | None = None, **details: Any
    ) -> None:
        key = self._key  # in a transaction of its own: one hop to the database's thread
        await self._db.write(lambda conn: append_sync(conn, key, actor, action, result, subject, **details))

    async def append_in(
        self,
        tx: Transaction,
        actor: Actor,
        action: str,
        result: str,
        subject: str | None = None,
        **details: Any,
    ) -> None:
        key = self._key  # the chain's head read and the row written in one hop to the database's thread
        await tx.run(lambda conn: append_sync(conn, key, actor, action, result, subject, **details))


_LAST_HASH = "SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1"
_INSERT = (
    "INSERT INTO audit_log (at, actor_kind, actor_id, terminal, action, subject, subject_mac, result, details,"
    " prev_hash, hash, chain) VALUES (:at, :actor_kind, :actor_id, :terminal, :action, :subject, :subject_mac,"
    " :result, :details, :prev_hash, :hash, :chain)"
)
_KEYED_FIELDS = ("at", "actor_kind", "actor_id", "terminal", "action", "subject_mac", "result", "details")
_LEGACY_FIELDS = ("at", "actor_kind", "actor_id", "terminal", "action", "subject", "result", "details")


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
    conn: sqlite3.Connection,
    key: bytes,
    actor: Actor,
    action: str,
    result: str,
    subject: str | None = None,
    **details: Any,
) -> None:
    """For command-line tools writing the database directly, inside their own transaction."""
    row = conn.execute(_LAST_HASH).fetchone()
    conn.execute(_INSERT, _row(key, row[0] if row else GENESIS, actor, action, result, subject, details))


async def erase_subjects_before(tx: Transaction, cutoff: str) -> int:
    """Erase the personal field of the rows written before ``cutoff`` (a purge past retention); the chain,
    over the field's MAC, stays whole. How many rows held one."""
    return await tx.execute(
        "UPDATE audit_log SET subject = NULL WHERE at < ? AND subject IS NOT NULL", (cutoff,)
    )


async def erase_subject(tx: Transaction, seq: int) -> None:
    """Erase the personal field of one row (the desk's erasure); the chain, over its MAC, stays whole."""
    await tx.execute("UPDATE audit_log SET subject = NULL WHERE seq = ?", (seq,))


# -- checkpoints ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    head: str
    at: str
    event: str  # checkpoint | restore
    valid: bool  # the signature holds


def _signed_text(event: str, seq: int, head: str, at: str) -> bytes:
    return f"konbini-audit/1|{event}|{seq}|{head}|{at}".encode()


class CheckpointLog:
    """``audit/checkpoints.log``: one signed JSON line per checkpoint, only ever appended (mode 0600)."""

    def __init__(self, path: Path, signing_key: Ed25519PrivateKey) -> None:
        self.path = path
        self._key = signing_key

    def append(self, seq: int, head: str, event: str = "checkpoint") -> None:
        at = utc_now_iso()
        sig = base64.b64encode(self._key.sign(_signed_text(event, seq, head, at))).decode()
        line = json.dumps({"event": event, "seq": seq, "head": head, "at": at, "sig": sig}) + "\n"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def last(self) -> tuple[int, str] | None:
        lines = read_checkpoints(self.path, self._key.public_key())
        return (lines[-1].seq, lines[-1].head) if lines else None


def read_checkpoints(path: Path, public_key: Ed25519PublicKey) -> list[Checkpoint]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            d = json.loads(line)
            seq, head, at, event = int(d["seq"]), str(d["head"]), str(d["at"]), str(d["event"])
            try:
                public_key.verify(base64.b64decode(d["sig"]), _signed_text(event, seq, head, at))
                valid = True
            except (InvalidSignature, ValueError):
                valid = False
            out.append(Checkpoint(seq, head, at, event, valid))
        except (ValueError, KeyError, TypeError):
            out.append(Checkpoint(-1, "", "", "unreadable", False))
    return out


async def write_checkpoint(db: Database, checkpoints: CheckpointLog, event: str = "checkpoint") -> bool:
    """Append a checkpoint of the chain's head if it moved since the last one; True when written."""
    row = await db.fetchone("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
    if row is None:
        return False
    seq, head = int(row[0]), str(row[1])
    if event == "checkpoint" and checkpoints.last() == (seq, head):
        return False
    await asyncio.to_thread(checkpoints.append, seq, head, event)
    return True


async def checkpoint_loop(db: Database, checkpoints: CheckpointLog, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await write_checkpoint(db, checkpoints)
        except Exception:  # keep checkpointing; say what went wrong
            log.exception("writing an audit checkpoint failed")


# -- verification --------------------------------------------------------------------------------------


@dataclass
class TrailReport:
    rows: int = 0
    checkpoints: int = 0
    erased: int = 0
    problem: str | None = None  # row_altered, row_deleted, subject_altered, checkpoint_forged,
    #                             checkpoint_mismatch, truncated
    seq: int | None = None
    heads: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def intact(self) -> bool:
        return self.problem is None

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "checkpoints": self.checkpoints,
            "erased_subjects": self.erased,
            "intact": self.intact,
            "problem": self.problem,
            "first_broken_seq": self.seq,
        }


def verify_trail(
    rows: Iterable[sqlite3.Row | Mapping[str, Any]], key: bytes, checkpoints: list[Checkpoint]
) -> TrailReport:
    """Check the chain row by row with the key, then every signed checkpoint against it."""
    report = TrailReport()
    prev, expected_seq = GENESIS, None
    for row in rows:
        seq = int(row["seq"])
        report.rows += 1
        if expected_seq is not None and seq != expected_seq:
            report.problem, report.seq = "row_deleted", expected_seq
            return report
        expected_seq = seq + 1
        if int(row["chain"] or 1) == KEYED:
            fields = {name: row[name] for name in _KEYED_FIELDS}
            ok = row["prev_hash"] == prev and hmac.compare_digest(row_mac(key, prev, fields), row["hash"])
            if ok and row["subject"] is not None and subject_mac(key, row["subject"]) != row["subject_mac"]:
                report.problem, report.seq = "subject_altered", seq
                return report
            report.erased += row["subject"] is None and bool(row["subject_mac"])
        else:
            fields = {name: row[name] for name in _LEGACY_FIELDS}
            ok = row["prev_hash"] == prev and legacy_row_hash(prev, fields) == row["hash"]
        if not ok:
            report.problem, report.seq = "row_altered", seq
            return report
        prev = row["hash"]
        report.heads[seq] = prev
    return _check_points(report, checkpoints)


def _check_points(report: TrailReport, checkpoints: list[Checkpoint]) -> TrailReport:
    last_seq = max(report.heads, default=0)
    # A restore supersedes what was checkpointed beyond the restored head before it.
    for i, point in enumerate(checkpoints):
        report.checkpoints += 1
        if not point.valid:
            report.problem, report.seq = "checkpoint_forged", point.seq
            return report
        restored_later = any(
            later.event == "restore" and later.seq < point.seq for later in checkpoints[i + 1 :]
        )
        if restored_later:
            continue
        if point.seq > last_seq:
            report.problem, report.seq = "truncated", last_seq + 1
            return report
        if report.heads.get(point.seq) != point.head:
            report.problem, report.seq = "checkpoint_mismatch", point.seq
            return report
    return report
