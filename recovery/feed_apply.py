"""Applying change-feed batches to the replica: one transaction a batch, idempotent, checkpointed.

The checkpoint (``replica.meta`` 'seq') lives in the replica file and is written in the same
transaction as the changes, so a crash leaves either the whole batch and its checkpoint or neither.
Upserts carry the record version and never replace a newer version; changes at or below the
checkpoint are skipped, so a batch seen twice is applied once. The SQL is the replica store's (the
replica's one writer, with the full sync).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from issuance_server.replica import store
from issuance_server.replica.store import Checkpoint
from issuance_server.storage.engine import Engine, Tx
from recovery.feed_page import Change, FeedBroken
from wire.clock import utc_now_iso


class ReplicaMoved(Exception):
    """A full sync switched the replica generation under the follower: read the checkpoint again."""


async def read_checkpoint(db: Engine) -> Checkpoint:
    """The replica's checkpoint, read on a reader."""
    return await db.read(store.feed_checkpoint)


def _apply(changes: list[Change], expected_after: int, fence: Callable[[Tx], None], tx: Tx) -> int:
    fence(tx)
    checkpoint = store.feed_checkpoint(tx)
    if checkpoint.seq != expected_after:
        raise ReplicaMoved(f"the replica is at {checkpoint.seq}, the batch follows {expected_after}")
    pending = [c for c in changes if c.seq > checkpoint.seq]
    seq = checkpoint.seq
    for change in pending:
        if change.seq != seq + 1:
            raise FeedBroken(f"sequence gap: after {seq} came {change.seq}")
        seq = change.seq
    store.apply_changes(tx, pending)
    if pending:
        store.set_feed_checkpoint(tx, seq, utc_now_iso())
    return seq


async def apply_batch(
    db: Engine, changes: list[Change], expected_after: int, fence: Callable[[Tx], None]
) -> int:
    """Apply ``changes`` (read after ``expected_after``) in one transaction; return the new checkpoint.

    ``fence`` (the registry lease's) refuses first when this node no longer holds the lease. Raises
    ReplicaMoved when the replica moved under the follower (another generation), FeedBroken when
    a sequence number is missing (changes were lost upstream)."""
    return await db.write(partial(_apply, changes, expected_after, fence))
