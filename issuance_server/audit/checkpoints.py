"""``audit/checkpoints.log``: signed checkpoints of the audit chain's head, in a file outside the database.

One JSON line per event, only ever appended (mode 0600, fsynced). Each line is signed with the server's
Ed25519 audit key over its counter ``n``, the SHA-256 of the line before it (``prev``), the event, the head
``(seq, head)`` and a note, so lines cannot be forged, deleted from the middle, reordered or replayed at the
end (a copy of an old line no longer follows the line before it). Events:

- ``genesis``: the first line, written when the trail is created (empty trail, ``seq`` 0);
- ``checkpoint``: the head of rows durably committed and checked (see ``audit_guard``);
- ``restore``: a restore from backup; earlier checkpoints beyond its head no longer bind;
- ``acknowledge``: ops saw a broken trail (the note names the problem and its first seq) and the trail
  goes on from this head; what lies between is reported as acknowledged, not as intact.

Lines of the first format (``konbini-audit/1``, unchained) are accepted only before the first chained
line: a log kept before the chain continues with chained lines.

What stays out of reach of this file alone: deleting its last lines together with the rows after the
remaining last checkpoint looks like a crash that lost them. Each checkpoint is therefore also written to
the server's log (``audit checkpoint n=... seq=... head=...``, no personal data), which a city forwards off
the machine (journald/syslog); compare them with ``konbini-ops audit-verify``'s last checkpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from issuance_server.audit.trail import GENESIS, canonical
from wire.clock import utc_now_iso

EVENTS = ("genesis", "checkpoint", "restore", "acknowledge")
log = logging.getLogger("konbini.audit")


def _signed_v1(event: str, seq: int, head: str, at: str) -> bytes:
    return f"konbini-audit/1|{event}|{seq}|{head}|{at}".encode()


def _signed_v2(n: int, prev: str, event: str, seq: int, head: str, at: str, note: dict[str, Any]) -> bytes:
    return f"konbini-audit/2|{n}|{prev}|{event}|{seq}|{head}|{at}|{canonical(note)}".encode()


def line_digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Checkpoint:
    """One line as read: ``problem`` is None when it is signed and follows the line before it."""

    line: int  # its place in the file, from 1
    seq: int
    head: str
    at: str
    event: str
    note: dict[str, Any] = field(default_factory=dict)
    problem: str | None = None  # checkpoint_forged | checkpoint_chain

    @property
    def valid(self) -> bool:
        return self.problem is None


def read_checkpoints(path: Path, public_key: Ed25519PublicKey) -> list[Checkpoint]:
    """Every line of the log with its signature and its place checked: a chained line's ``n`` and
    ``prev`` must follow the line before it (as :meth:`CheckpointLog.append` writes them)."""
    if not path.exists():
        return []
    out: list[Checkpoint] = []
    prev_text: str | None = None
    chained = False
    for number, text in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
        point = _parse(number, text, public_key, _place_after(prev_text, number), chained)
        chained = chained or (point.valid and "n" in _loads(text))
        out.append(point)
        prev_text = text
    return out


def _place_after(prev_text: str | None, number: int) -> tuple[int, str]:
    """The ``(n, prev)`` a chained line at place ``number`` must carry, after the line ``prev_text``."""
    if prev_text is None:
        return 0, GENESIS
    try:
        n = int(_loads(prev_text)["n"]) + 1
    except (KeyError, TypeError, ValueError):
        n = number - 1  # after a line of the first format (or an unreadable one): its place
    return n, line_digest(prev_text)


def _loads(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _parse(
    number: int, text: str, key: Ed25519PublicKey, place: tuple[int, str], chained: bool
) -> Checkpoint:
    d = _loads(text)
    try:
        seq, head, at, event = int(d["seq"]), str(d["head"]), str(d["at"]), str(d["event"])
        sig = base64.b64decode(d["sig"], validate=True)
        note = d.get("note") or {}
        if not isinstance(note, dict) or event not in EVENTS:
            raise ValueError(event)
        if "n" in d:
            signed = _signed_v2(int(d["n"]), str(d["prev"]), event, seq, head, at, note)
            place_ok = (int(d["n"]), str(d["prev"])) == place
        else:  # the first format: only before the chain begins
            signed, place_ok = _signed_v1(event, seq, head, at), not chained
    except (ValueError, KeyError, TypeError):
        return Checkpoint(number, -1, "", "", "unreadable", problem="checkpoint_forged")
    try:
        key.verify(sig, signed)
    except (InvalidSignature, ValueError):
        return Checkpoint(number, seq, head, at, event, note, "checkpoint_forged")
    return Checkpoint(number, seq, head, at, event, note, None if place_ok else "checkpoint_chain")


class CheckpointLog:
    """Appends signed, chained lines (fsynced) and names each in the server's log."""

    def __init__(self, path: Path, signing_key: Ed25519PrivateKey) -> None:
        self.path = path
        self._key = signing_key

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self._key.public_key()

    def read(self) -> list[Checkpoint]:
        return read_checkpoints(self.path, self.public_key)

    def append(
        self, seq: int, head: str, event: str = "checkpoint", note: dict[str, Any] | None = None
    ) -> int:
        """Append one line after the file's last line (whatever it is); its counter ``n``."""
        note = note or {}
        n, prev = self._next_place()
        at = utc_now_iso()
        sig = base64.b64encode(self._key.sign(_signed_v2(n, prev, event, seq, head, at, note))).decode()
        line = json.dumps(
            {
                "n": n,
                "prev": prev,
                "event": event,
                "seq": seq,
                "head": head,
                "at": at,
                "note": note,
                "sig": sig,
            },
            ensure_ascii=False,
        )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.path.parent, 0o700)
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        log.info("audit %s n=%d seq=%d head=%s", event, n, seq, head)
        return n

    def _next_place(self) -> tuple[int, str]:
        lines = (
            self.path.read_text(encoding="utf-8", errors="replace").splitlines() if self.path.exists() else []
        )
        return _place_after(lines[-1] if lines else None, len(lines) + 1)

    def begin(self, trail_is_empty: bool) -> None:
        """The genesis line of a new trail (an empty trail and no log yet). A missing log beside a trail
        that has rows is left missing: verification reports it."""
        if trail_is_empty and not self.path.exists():
            self.append(0, GENESIS, "genesis")
