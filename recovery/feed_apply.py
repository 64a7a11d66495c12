"""Applying change-feed batches to the replica: one transaction a batch, idempotent, checkpointed.

The checkpoint (``replica.meta`` 'seq') lives in the replica file and is written in the same
transaction as the changes, so a crash leaves either the whole batch and its checkpoint or neither.
Upserts carry the record version and never replace a newer version; changes at or below the
checkpoint are skipped, so a batch seen twice is applied once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from issuance_server.replica.store import indexed_columns
from issuance_server.storage.database import Database, Transaction
from recovery.registry_client import Change, FeedBroken
from wire.clock import utc_now_iso
from wire.linkage import FIELDS_BY_TYPE, KEYS_BY_TYPE


def _upsert_sql(rtype: str) -> str:
    """Insert a record, or update it if the change is newer; the indexed columns are left to
    ``_INDEXED_UPDATE_SQL``: SQLite rewrites an index's entry whenever its column is set, even to the same
    value, and most changes (an address, a tax figure) leave them as they were."""
    cols = list(FIELDS_BY_TYPE[rtype])
    keys = KEYS_BY_TYPE[rtype]
    updates = ", ".join(
        f"{c} = excluded.{c}" for c in cols if c not in keys and c not in indexed_columns(rtype)
    )
    return (
        f"INSERT INTO replica.{rtype} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"  # noqa: S608  table, column and placeholder text from constants; values are bound
        f" ON CONFLICT({', '.join(keys)}) DO UPDATE SET {updates} WHERE excluded.version > {rtype}.version"
    )


def _indexed_update_sql(rtype: str) -> str | None:
    """After the upsert: the indexed columns of the record the change wrote (its version is now the
    record's), only where they differ. Parameters: the indexed columns, the key, the version."""
    indexed = indexed_columns(rtype)
    if not indexed:
        return None
    n = len(indexed)
    keys = KEYS_BY_TYPE[rtype]
    sets = ", ".join(f"{c} = ?{i}" for i, c in enumerate(indexed, 1))
    where = " AND ".join(f"{k} = ?{n + i}" for i, k in enumerate(keys, 1))
    differ = " OR ".join(f"{c} IS NOT ?{i}" for i, c in enumerate(indexed, 1))
    return (
        f"UPDATE replica.{rtype} SET {sets} WHERE {where} AND version = ?{n + len(keys) + 1} AND ({differ})"  # noqa: S608  table, column and placeholder text from constants; values are bound
    )


def _indexed_params(rtype: str) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """A record's values -> the parameters of its ``_indexed_update_sql``."""
    fields = list(FIELDS_BY_TYPE[rtype])
    at = [fields.index(c) for c in (*indexed_columns(rtype), *KEYS_BY_TYPE[rtype], "version")]
    return lambda values: tuple([values[i] for i in at])


def _delete_sql(rtype: str) -> str:
    return f"DELETE FROM replica.{rtype} WHERE " + " AND ".join(f"{k} = ?" for k in KEYS_BY_TYPE[rtype])  # noqa: S608  table, column and placeholder text from constants; values are bound


def key_values(rtype: str, key: str) -> tuple[Any, ...]:
    """The primary-key values of a feed key ('owner|fiscal_year' for tax records)."""
    parts = key.split("|")
    if len(parts) != len(KEYS_BY_TYPE[rtype]):
        raise ValueError(f"bad {rtype} key {key!r}")
    return tuple(int(p) if c == "fiscal_year" else p for p, c in zip(parts, KEYS_BY_TYPE[rtype], strict=True))


UPSERT_SQL = {t: _upsert_sql(t) for t in FIELDS_BY_TYPE}
_INDEXED_UPDATE_SQL = {t: _indexed_update_sql(t) for t in FIELDS_BY_TYPE}
_INDEXED_PARAMS = {t: _indexed_params(t) for t in FIELDS_BY_TYPE}
DELETE_SQL = {t: _delete_sql(t) for t in FIELDS_BY_TYPE}


class ReplicaMoved(Exception):
    """A full sync switched the replica generation under the follower: read the checkpoint again."""


def _statements(changes: list[Change]) -> list[tuple[str, list[Sequence[Any]]]]:
    """Each record's final state in the batch, grouped by statement.

    A change carries the whole record, so only the last change to a key decides its state; changes to
    different keys commute. That leaves at most one executemany per (operation, type)."""
    last: dict[tuple[str, str], Change] = {}
    for change in changes:
        last[(change.rtype, change.key)] = change
    grouped: dict[str, list[Sequence[Any]]] = {}
    for change in last.values():
        if change.op == "upsert":
            assert change.values is not None  # noqa: S101  an invariant that narrows a type, not a check of input
            grouped.setdefault(UPSERT_SQL[change.rtype], []).append(change.values)
            indexed = _INDEXED_UPDATE_SQL[change.rtype]
            if indexed is not None:  # after the upsert of its type (the dict keeps that order)
                grouped.setdefault(indexed, []).append(_INDEXED_PARAMS[change.rtype](change.values))
        else:
            grouped.setdefault(DELETE_SQL[change.rtype], []).append(key_values(change.rtype, change.key))
    return list(grouped.items())


@dataclass(frozen=True)
class Checkpoint:
    seq: int
    epoch: str | None


async def read_checkpoint(tx: Transaction) -> Checkpoint:
    rows = await tx.fetchall("SELECT key, value FROM replica.meta WHERE key IN ('seq', 'epoch')")
    meta = {r[0]: r[1] for r in rows}
    return Checkpoint(int(meta.get("seq") or 0), meta.get("epoch") or None)


async def apply_batch(db: Database, changes: list[Change], expected_after: int) -> int:
    """Apply ``changes`` (read after ``expected_after``) in one transaction; return the new checkpoint.

    Raises ReplicaMoved when the replica moved under the follower (another generation), FeedBroken when
    a sequence number is missing (changes were lost upstream)."""
    async with db.transaction() as tx:
        checkpoint = await read_checkpoint(tx)
        if checkpoint.seq != expected_after:
            raise ReplicaMoved(f"the replica is at {checkpoint.seq}, the batch follows {expected_after}")
        pending = [c for c in changes if c.seq > checkpoint.seq]
        seq = checkpoint.seq
        for change in pending:
            if change.seq != seq + 1:
                raise FeedBroken(f"sequence gap: after {seq} came {change.seq}")
            seq = change.seq
        for sql, rows in _statements(pending):
            await tx.conn.executemany(sql, rows)
        if pending:
            await tx.conn.executemany(
                "INSERT INTO replica.meta (key, value) VALUES (?, ?)"
                " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [("seq", str(seq)), ("applied_at", utc_now_iso())],
            )
    return seq
