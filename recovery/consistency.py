"""Consistency check: per table, the count and an order-independent checksum of (key, version) in the
replica against the registry's snapshot at the same sequence number. A mismatch is reported and, when
asked, repaired by a full resync.

The link is paused while the check runs, so the replica stays at its sequence number R; the snapshot
comes at S >= R; the replica is moved forward to exactly S with the feed, then both sides are compared.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from functools import partial
from typing import Any

from issuance_server.audit.trail import Actor
from issuance_server.replica.generations import ReplicaGenerations
from issuance_server.replica.store import parse_rows, scan_versions
from issuance_server.storage.engine import Row
from recovery.feed_apply import apply_batch, read_checkpoint
from recovery.link import RegistryLink
from recovery.snapshot_sync import SyncProgress, load_snapshot
from wire.linkage import FIELDS_BY_TYPE, KEYS_BY_TYPE, RECORD_TYPES

_MASK = (1 << 64) - 1


def _row_hash(key: Sequence[Any], version: Any) -> int:
    text = "|".join(str(k) for k in key) + f"#{version}"
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


class TableDigest:
    """Counts and checksums per record type; also a snapshot sink (see snapshot_sync.RecordSink)."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(RECORD_TYPES, 0)
        self.sums = dict.fromkeys(RECORD_TYPES, 0)
        cols = {t: list(FIELDS_BY_TYPE[t]) for t in RECORD_TYPES}
        self._key_idx = {t: [cols[t].index(k) for k in KEYS_BY_TYPE[t]] for t in RECORD_TYPES}
        self._ver_idx = {t: cols[t].index("version") for t in RECORD_TYPES}

    def insert(self, rtype: str, rows: Sequence[Sequence[Any]]) -> None:
        keys, ver = self._key_idx[rtype], self._ver_idx[rtype]
        total = self.sums[rtype]
        for row in rows:
            total = (total + _row_hash([row[i] for i in keys], row[ver])) & _MASK
        self.sums[rtype] = total
        self.counts[rtype] += len(rows)

    def insert_rows(self, rtype: str, data: bytes, count: int) -> None:
        self.insert(rtype, [row[1:] for row in parse_rows(data)])

    def insert_versions(self, rtype: str, rows: Sequence[Row]) -> None:
        """Rows of the record's key columns and ``version``, by column name."""
        keys = KEYS_BY_TYPE[rtype]
        total = self.sums[rtype]
        for row in rows:
            total = (total + _row_hash([row[k] for k in keys], row["version"])) & _MASK
        self.sums[rtype] = total
        self.counts[rtype] += len(rows)

    def as_json(self) -> dict[str, Any]:
        return {t: {"count": self.counts[t], "checksum": f"{self.sums[t]:016x}"} for t in RECORD_TYPES}


def replica_digest(replica: ReplicaGenerations) -> TableDigest:
    """Read the current generation on a connection of its own, beside the server's reads and writes."""
    digest = TableDigest()
    with replica.reader() as tx:
        for rtype in RECORD_TYPES:
            scan_versions(tx, rtype, partial(digest.insert_versions, rtype))
    return digest


async def check_consistency(link: RegistryLink, actor: Actor, repair: bool = False) -> dict[str, Any]:
    core = link.core
    s = core.settings
    link.checking = True
    try:
        async with link._poll_lock:  # no feed page is applied while the check holds the replica still
            registry = TableDigest()
            header = await asyncio.to_thread(
                load_snapshot,
                s.registry_url,
                s.snapshot_timeout_s,
                registry,
                SyncProgress(),
                link.core.registry_ssl,
            )
            target = int(header.get("seq", 0))
            checkpoint = await read_checkpoint(core.db)
            seq = checkpoint.seq
            while seq < target:
                page = await link.client.feed(seq, min(s.feed_batch, target - seq), checkpoint.epoch)
                if not page.changes:
                    break
                seq = await apply_batch(core.db, page.changes[: target - seq], seq, link.lease.fence)
            replica = await asyncio.to_thread(replica_digest, core.replica)
    finally:
        link.checking = False
    mismatched = [
        t
        for t in RECORD_TYPES
        if (registry.counts[t], registry.sums[t]) != (replica.counts[t], replica.sums[t])
    ]
    result: dict[str, Any] = {
        "seq": target,
        "replica_seq": seq,
        "consistent": not mismatched and seq == target,
        "mismatched": mismatched,
        "registry": registry.as_json(),
        "replica": replica.as_json(),
        "repaired": False,
    }
    await core.audit.append(
        actor,
        "consistency_check",
        "ok" if result["consistent"] else "mismatch",
        mismatched=mismatched,
        seq=target,
    )
    if not result["consistent"] and repair:
        progress = await link.sync.run(actor)
        result["repaired"] = progress.state == "done"
        result["repair_error"] = progress.error
    return result
