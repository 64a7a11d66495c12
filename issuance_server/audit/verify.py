"""Checking the audit trail: each row's keyed link, the rules on erasure, and the signed checkpoints.

- Rows of the old unkeyed chain (``chain = 1``) are accepted only before the first keyed row.
- A row's personal field may be erased only by a purge: an erased row must be older than the cut-off of a
  later ``purge`` row (which the keyed chain covers).
- Every signed checkpoint must name a head the chain has, unless a later ``restore`` (to an earlier head)
  or ``acknowledge`` (from an earlier seq) supersedes it; none at all beside keyed rows is a failure.
- A problem that ops acknowledged (``acknowledge`` line: its first seq up to its head) is reported among
  ``acknowledged``; the chain is checked again from that head on.

``verify_trail`` checks everything (``konbini-ops audit-verify``, backups); ``verify_tail`` only the rows
since the last checkpoint and the checkpoint file (at start and before each new checkpoint).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from issuance_server.audit import store
from issuance_server.audit.checkpoints import Checkpoint, read_checkpoints
from issuance_server.audit.trail import (
    GENESIS,
    KEYED,
    canonical,
    keyed_fields,
    legacy_fields,
    legacy_row_hash,
    row_mac,
    subject_mac,
)
from issuance_server.storage import engine
from issuance_server.storage.sqlite_files import read_file

Row = engine.Row | Mapping[str, Any]

PROBLEMS = {
    "row_altered": "a row was changed (or the chain recomputed without the key)",
    "row_deleted": "a row is missing",
    "subject_altered": "a row's subject was changed",
    "unkeyed_row": "a row of the old unkeyed chain follows keyed rows (written without the key)",
    "subject_erased": "a row's personal field was erased outside a purge",
    "checkpoint_forged": "a line of audit/checkpoints.log is not signed by the server",
    "checkpoint_chain": "lines of audit/checkpoints.log were deleted, reordered or replayed",
    "checkpoints_missing": "audit/checkpoints.log is missing or empty beside a keyed trail",
    "checkpoint_mismatch": "the chain disagrees with a signed checkpoint (rewritten)",
    "truncated": "rows were deleted from the end (a signed checkpoint names later rows)",
    "acknowledged_range_altered": "rows ops acknowledged as broken were changed after the acknowledgement",
}


@dataclass
class TrailReport:
    rows: int = 0
    checkpoints: int = 0
    erased: int = 0
    problem: str | None = None  # a key of PROBLEMS
    seq: int | None = None  # the first broken row (or the checkpoint's seq)
    line: int | None = None  # for problems of the checkpoint file: the line
    acknowledged: list[dict[str, Any]] = field(default_factory=list)
    last_checkpoint: dict[str, Any] | None = None
    heads: dict[int, str] = field(default_factory=dict, repr=False)

    @property
    def intact(self) -> bool:
        return self.problem is None

    def fail(self, problem: str, seq: int | None, line: int | None = None) -> TrailReport:
        self.problem, self.seq, self.line = problem, seq, line
        return self

    def as_json(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "checkpoints": self.checkpoints,
            "erased_subjects": self.erased,
            "intact": self.intact,
            "problem": self.problem,
            "first_broken_seq": self.seq,
            "checkpoint_line": self.line,
            "acknowledged": self.acknowledged,
            "last_checkpoint": self.last_checkpoint,
        }


def _chain_of(row: Row) -> int | None:
    """The row's chain version: 1 (unkeyed) or 2 (keyed); anything else is not a row the server wrote."""
    value = row["chain"]
    return value if isinstance(value, int) and value in (1, KEYED) else None


def _link_problem(row: Row, prev: str, key: bytes, unkeyed_allowed: bool) -> str | None:
    """What is wrong with this row's own link after ``prev`` (None: it holds)."""
    chain = _chain_of(row)
    if chain is None or not isinstance(row["hash"], str):
        return "row_altered"
    if chain != KEYED:
        if not unkeyed_allowed:
            return "unkeyed_row"
        fields = {name: row[name] for name in legacy_fields()}
        ok = row["prev_hash"] == prev and legacy_row_hash(prev, fields) == row["hash"]
        return None if ok else "row_altered"
    return _keyed_problem(row, prev, key)


def _keyed_problem(row: Row, prev: str, key: bytes) -> str | None:
    """A keyed row's MAC over ``prev`` and its fields, and its subject's MAC."""
    try:
        fields = {name: row[name] for name in keyed_fields()}
        mac = row_mac(key, prev, fields)
    except (TypeError, ValueError):
        return "row_altered"
    if row["prev_hash"] != prev or not hmac.compare_digest(mac, str(row["hash"])):
        return "row_altered"
    if row["subject"] is not None and subject_mac(key, str(row["subject"])) != row["subject_mac"]:
        return "subject_altered"
    return None


def _head_problem(row: Row, key: bytes) -> str | None:
    """A checkpointed head row checked on its own: its fields under its MAC (its link before is vouched for
    by the checkpoint that names its hash)."""
    if _chain_of(row) != KEYED:
        return None  # an old unkeyed head: its hash is all there is, and the checkpoint names it
    return _keyed_problem(row, str(row["prev_hash"]), key)


def _is_erased(row: Row) -> bool:
    return row["subject"] is None and bool(row["subject_mac"])


def _purge_cutoff(row: Row) -> str | None:
    if row["action"] != "purge" or row["result"] != "done":
        return None
    try:
        details = json.loads(row["details"] or "{}")
    except (TypeError, ValueError):
        return None
    if not isinstance(details, dict):
        return None
    return str(details.get("cutoff") or details.get("before") or "") or None


def _acks(points: list[Checkpoint]) -> list[Checkpoint]:
    return [p for p in points if p.valid and p.event == "acknowledge"]


def _covering_ack(acks: list[Checkpoint], seq: int) -> Checkpoint | None:
    for ack in acks:
        first = ack.note.get("seq")
        if isinstance(first, int) and first <= seq <= ack.seq:
            return ack
    return None


def _line_problems(report: TrailReport, points: list[Checkpoint]) -> TrailReport:
    """Lines of the checkpoint file that are forged or out of place, unless a later acknowledgement
    lists them."""
    for point in points:
        if point.valid:
            continue
        later = [a for a in _acks(points) if a.line > point.line and point.line in a.note.get("lines", [])]
        if later:
            report.acknowledged.append({"problem": point.problem, "line": point.line, "at": later[0].at})
            continue
        return report.fail(
            point.problem or "checkpoint_forged", point.seq if point.seq >= 0 else None, point.line
        )
    return report


def _superseded(point: Checkpoint, points: list[Checkpoint]) -> bool:
    for later in points[point.line :]:
        if not later.valid:
            continue
        if later.event == "restore" and later.seq < point.seq:
            return True
        first = later.note.get("seq")
        if later.event == "acknowledge" and isinstance(first, int) and first <= point.seq:
            return True
    return False


def verify_trail(rows: Iterable[Row], key: bytes, points: list[Checkpoint]) -> TrailReport:
    """Everything: every row from the first, every line of the checkpoint file."""
    report = TrailReport()
    _line_problems(report, points)
    if not report.intact:
        return report
    report = _walk(rows, key, points, report, anchor=None)
    if not report.intact:
        return report
    return _check_points(report, points)


def verify_tail(rows: Iterable[Row], key: bytes, points: list[Checkpoint]) -> TrailReport:
    """The rows from the last checkpoint's head on (``rows`` start there) and the checkpoint file: what
    the server checks at start and before it signs a new checkpoint."""
    report = TrailReport()
    _line_problems(report, points)
    if not report.intact:
        return report
    valid = [p for p in points if p.valid]
    report = _walk(rows, key, points, report, anchor=valid[-1] if valid else None)
    if report.intact and valid and valid[-1].seq > 0 and not report.heads:
        return report.fail("truncated", valid[-1].seq)  # the checkpointed rows are gone
    return report


_RANGE_FIELDS = (
    "seq",
    "at",
    "actor_kind",
    "actor_id",
    "terminal",
    "action",
    "subject_mac",
    "result",
    "details",
    "prev_hash",
    "hash",
    "chain",
)  # fmt: skip  (not ``subject``: a purge may erase it later)


def range_digest(rows: Iterable[Row]) -> str:
    """The rows an acknowledgement excuses, frozen as ops saw them: SHA-256 over their fields."""
    return hashlib.sha256(
        canonical([[row[name] for name in _RANGE_FIELDS] for row in rows]).encode()
    ).hexdigest()


def _walk(
    rows: Iterable[Row], key: bytes, points: list[Checkpoint], report: TrailReport, anchor: Checkpoint | None
) -> TrailReport:
    """Follow the chain. With an ``anchor`` (the last checkpoint), ``rows`` begin at its seq (at 1 after
    the genesis line); without, ``rows`` are the whole trail. A trail begun with a genesis line is keyed
    from its first row; an older one may begin with unkeyed rows."""
    rows = list(rows)
    acks = _acks(points)
    born_keyed = any(p.valid and p.event == "genesis" for p in points)
    prev, expected, keyed_seen = GENESIS, None, False
    skip_to = anchor if anchor is not None and anchor.seq > 0 else None  # the next row must be its head
    erased: list[tuple[int, str]] = []
    cutoffs: list[tuple[int, str]] = []
    for row in rows:
        seq = int(row["seq"])
        report.rows += 1
        if skip_to is not None:  # a checkpoint's head, or the end of an acknowledged break
            if seq < skip_to.seq and report.rows > 1:
                continue
            if seq != skip_to.seq:
                return report.fail("row_deleted", skip_to.seq)
            if row["hash"] != skip_to.head:
                return report.fail("checkpoint_mismatch", seq)
            if (problem := _head_problem(row, key)) is not None:
                return report.fail(problem, seq)
            if skip_to is not anchor and not _range_holds(rows, skip_to):
                return report.fail("acknowledged_range_altered", skip_to.note.get("seq"))
            prev, expected, skip_to = skip_to.head, seq + 1, None
            keyed_seen = keyed_seen or _chain_of(row) == KEYED
            report.heads[seq] = prev
            continue
        if expected is not None and seq != expected:
            return report.fail("row_deleted", expected)
        expected = seq + 1
        problem = _link_problem(row, prev, key, unkeyed_allowed=not (born_keyed or keyed_seen))
        if problem is not None:
            ack = _covering_ack(acks, seq)
            if ack is None:
                return report.fail(problem, seq)
            report.acknowledged.append(
                {"problem": problem, "seq": seq, "at": ack.at, "by": ack.note.get("by")}
            )
            if seq < ack.seq:
                skip_to = ack
                continue
            return report.fail(problem, seq)  # the acknowledgement's own head row: written by the server
        keyed_seen = keyed_seen or _chain_of(row) == KEYED
        if _is_erased(row):
            report.erased += 1
            erased.append((seq, str(row["at"])))
        if (cutoff := _purge_cutoff(row)) is not None:
            cutoffs.append((seq, cutoff))
        prev = str(row["hash"])
        report.heads[seq] = prev
    if skip_to is not None and (report.rows or skip_to is not anchor):
        return report.fail("truncated", expected or skip_to.seq)
    for seq, at in erased:  # only a later purge explains an erased field, and only for older rows
        if not any(p_seq > seq and at < cutoff for p_seq, cutoff in cutoffs):
            ack = _covering_ack(acks, seq)
            if ack is None:
                return report.fail("subject_erased", seq)
            report.acknowledged.append({"problem": "subject_erased", "seq": seq, "at": ack.at})
    valid = [p for p in points if p.valid]
    if not valid and report.rows:  # any trail has at least its genesis line (or an old log's lines)
        return report.fail("checkpoints_missing", min(report.heads, default=1))
    if valid:
        last = valid[-1]
        report.last_checkpoint = {"line": last.line, "event": last.event, "seq": last.seq, "head": last.head}
    return report


def _range_holds(rows: list[Row], ack: Checkpoint) -> bool:
    """The rows an acknowledgement excused are still those it froze (acknowledgements before the range
    digest existed: nothing to compare)."""
    frozen, first = ack.note.get("range_digest"), ack.note.get("seq")
    if frozen is None or not isinstance(first, int):
        return True
    return range_digest(r for r in rows if first <= int(r["seq"]) < ack.seq) == frozen


def _check_points(report: TrailReport, points: list[Checkpoint]) -> TrailReport:
    last_seq = max(report.heads, default=0)
    for point in points:
        if not point.valid:
            continue
        report.checkpoints += 1
        if point.event == "genesis" or _superseded(point, points):
            continue
        if point.seq > last_seq:
            return report.fail("truncated", last_seq + 1)
        if report.heads.get(point.seq) != point.head:
            return report.fail("checkpoint_mismatch", point.seq)
    return report


def verify_files(db_path: Path, secrets_dir: Path, checkpoints_path: Path) -> TrailReport:
    """Everything, from the files of a stopped server (or a backup): its database read-only, its chain
    key and the public half of its checkpoint key."""
    return verify_rows(read_file(db_path, store.rows), secrets_dir, checkpoints_path)


def verify_rows(rows: list[engine.Row], secrets_dir: Path, checkpoints_path: Path) -> TrailReport:
    """The trail ``rows`` (read from any engine) against the chain key and the checkpoints' public key."""
    key = (secrets_dir / "audit-chain-key").read_bytes()
    signing = load_pem_private_key((secrets_dir / "audit-ed25519.pem").read_bytes(), password=None)
    if not isinstance(signing, Ed25519PrivateKey):
        raise ValueError(f"{secrets_dir / 'audit-ed25519.pem'} is not an Ed25519 key")
    return verify_trail(rows, key, read_checkpoints(checkpoints_path, signing.public_key()))
