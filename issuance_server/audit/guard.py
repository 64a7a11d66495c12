"""The server's watch over its own audit trail: the check at start and before each checkpoint, the hold
on a broken trail, and ops' acknowledgement.

- **Checked before signed.** At start and before each checkpoint the rows since the last checkpoint and
  the checkpoint file are verified (``verify_tail``); a new checkpoint never signs a head that does not
  follow from the last one.
- **Durable before signed.** The database commits with ``synchronous=NORMAL``: a commit reaches the WAL
  but is fsynced only at SQLite's own checkpoints, while checkpoint lines are fsynced. So the head is read
  and made durable (a commit with ``synchronous=FULL``) under the writer's lock before the line is signed: a
  power cut loses only rows after the last checkpoint, which verification reads as never checkpointed,
  not as a truncation (a false alarm that would stop every kiosk).
- **A broken trail holds the kiosks.** They are refused with ``audit_trail_broken`` and
  ``/ops/api/status`` (``audit_hold``) says what broke and where, until ops acknowledge it (``konbini-ops audit-acknowledge``): a row
  and an ``acknowledge`` line record what was seen, and the trail is checked again from there on.
"""

from __future__ import annotations

import asyncio
import logging
from functools import partial
from typing import Any

from issuance_server.audit import store
from issuance_server.audit.checkpoints import CheckpointLog
from issuance_server.audit.trail import SYSTEM, Actor, AuditLog
from issuance_server.audit.verify import PROBLEMS, TrailReport, range_digest, verify_tail, verify_trail
from issuance_server.storage.engine import DatabaseUnavailable, Engine, Row, Tx
from wire.clock import utc_now_iso

log = logging.getLogger("konbini.audit")
_MAX_ACKNOWLEDGED = 5  # problems acknowledged in one go (each its own row and line)


def _mark(tx: Tx) -> None:
    store.mark_durable(tx, utc_now_iso())


class AuditGuard:
    def __init__(self, db: Engine, audit: AuditLog, key: bytes, checkpoints: CheckpointLog):
        self._db, self._audit, self._key = db, audit, key
        self.checkpoints = checkpoints
        self.hold: TrailReport | None = None  # set while the trail is broken and not acknowledged
        self._lock = asyncio.Lock()

    def hold_json(self) -> dict[str, Any] | None:
        if self.hold is None:
            return None
        return {
            "problem": self.hold.problem,
            "what": PROBLEMS.get(self.hold.problem or "", self.hold.problem),
            "first_broken_seq": self.hold.seq,
            "checkpoint_line": self.hold.line,
        }

    async def _durable_tail(self) -> tuple[TrailReport, list[Row]]:
        points = await asyncio.to_thread(self.checkpoints.read)
        valid = [p for p in points if p.valid]
        from_seq = valid[-1].seq if valid else 0
        rows = await self._db.read_durably(lambda tx: store.rows_from(tx, from_seq), _mark)
        try:
            return await asyncio.to_thread(verify_tail, rows, self._key, points), rows
        except (TypeError, ValueError, KeyError) as exc:  # a row no server wrote: held, never signed
            log.error("audit trail unreadable: %s", type(exc).__name__)
            return TrailReport().fail("row_altered", None), rows

    async def checkpoint(self) -> bool:
        """Check the tail; if it holds and the head moved, sign it. True when a line was written; a broken
        tail puts the server on hold instead."""
        async with self._lock:
            report, rows = await self._durable_tail()
            if not report.intact:
                await self._put_on_hold(report)
                return False
            last = report.last_checkpoint
            if not rows or (last is not None and last["seq"] == rows[-1]["seq"]):
                return False
            head = rows[-1]
            await asyncio.to_thread(self.checkpoints.append, int(head["seq"]), str(head["hash"]))
            return True

    async def _put_on_hold(self, report: TrailReport) -> None:
        first = self.hold is None or self.hold.problem != report.problem or self.hold.seq != report.seq
        self.hold = report
        if first:
            log.error(
                "audit trail broken: %s (seq %s, checkpoint line %s); kiosks are refused until ops check it"
                " and acknowledge (konbini-ops audit-acknowledge)",
                PROBLEMS.get(report.problem or "", report.problem), report.seq, report.line,
            )  # fmt: skip
            await self._audit.append(
                SYSTEM,
                "audit_check",
                "broken",
                None,
                problem=report.problem,
                seq=report.seq,
                line=report.line,
            )

    async def full_report(self) -> TrailReport:
        rows = await self._db.read(store.rows)
        points = await asyncio.to_thread(self.checkpoints.read)
        return await asyncio.to_thread(verify_trail, rows, self._key, points)

    async def acknowledge(self, actor: Actor, reason: str) -> list[dict[str, Any]]:
        """Record that ops saw each problem of the whole trail, so that it goes on from here; what was
        acknowledged (empty: the trail was intact)."""
        done: list[dict[str, Any]] = []
        async with self._lock:
            for _ in range(_MAX_ACKNOWLEDGED):
                report = await self.full_report()
                if report.intact:
                    break
                seen = {"problem": report.problem, "seq": report.seq, "line": report.line}
                await self._audit.append(actor, "audit_acknowledge", "ok", None, reason=reason[:300], **seen)
                points = await asyncio.to_thread(self.checkpoints.read)
                first = report.seq if report.line is None else None
                head = await self._db.read_durably(store.head, _mark)
                assert head is not None  # noqa: S101  the acknowledgement's own row was just appended
                last = int(head["seq"])
                excused = (
                    []
                    if first is None
                    else await self._db.read(partial(store.rows_between, first=first, before=last))
                )
                note = {"problem": report.problem, "seq": first, "lines": [p.line for p in points if not p.valid],
                        "by": actor.actor_id, "range_digest": range_digest(excused)}  # fmt: skip
                await asyncio.to_thread(self.checkpoints.append, last, str(head["hash"]), "acknowledge", note)
                done.append(seen)
            self.hold = None if (await self.full_report()).intact else self.hold
        return done


async def checkpoint_loop(guard: AuditGuard, every_s: float) -> None:
    while True:
        await asyncio.sleep(every_s)
        try:
            await guard.checkpoint()
        except DatabaseUnavailable as exc:  # the next one covers what this one would have
            log.warning("the audit checkpoint waits for the database: %s", exc)
        except Exception:  # keep checkpointing; say what went wrong
            log.exception("writing an audit checkpoint failed")
