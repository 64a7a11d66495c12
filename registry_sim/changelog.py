"""Writing changes: one transaction per batch, each change logged under the next sequence number.

``StoreWriter`` is the only writer of a store file in the sim process. It keeps one connection (WAL with
``synchronous=NORMAL``: a committed batch survives the process being killed) and is used from one thread at a
time (the server runs it on a single-thread executor). ``StoreWriter.batch()`` yields a ``Batch``: read,
upsert, remove, then everything commits together with the meta (seq, counts), or nothing does.

Per record, ``version`` is the previous version plus one (1 for a new key, the removed version plus one for a
key that comes back), and a resident's ``updated_at`` is the time of the change: the store sets both,
whatever the caller sent. References are checked when a batch (or an event's savepoint) ends: a resident's
household, a household's head, a seal's or tax record's owner must exist, and a removed household, resident
must not be referred to any more.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import orjson

from registry_sim.store import (
    canonical,
    connect,
    has_column,
    log_schema_statements,
    meta_state,
    new_epoch,
    read_meta,
    record_key,
    record_ref,
)
from wire.linkage import FIELDS_BY_TYPE, LinkageError, check_record, encode_row, record_problem

JST: Final = timezone(timedelta(hours=9))
MAX_CHANGES_PER_REQUEST: Final = 10_000

# (record type, field) -> the record type it refers to
REFERENCES: Final = {
    ("household", "head_atena_no"): "resident",
    ("resident", "household_no"): "household",
    ("seal", "owner_atena_no"): "resident",
    ("tax", "owner_atena_no"): "resident",
}


class ChangeError(ValueError):
    """A change that cannot be applied; ``index`` is its position in the request, when there is one."""

    def __init__(self, message: str, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class StoreMissing(FileNotFoundError):
    """The store file does not exist (not seeded yet)."""


def utc_ms_iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Batch:
    """The changes of one write transaction; use it only inside ``StoreWriter.batch()``."""

    def __init__(self, conn: sqlite3.Connection, meta: dict[str, str]) -> None:
        self._conn = conn
        self.epoch, self.seq, self.counts = meta_state(meta)
        self.pruned_through = int(meta.get("pruned_through", "0"))
        self.logging = True
        self.seqs: list[int] = []
        self.last_version = 0
        now = datetime.now(UTC)
        self.at = utc_ms_iso(now)
        self.updated_at = now.astimezone(JST).strftime("%Y-%m-%dT%H:%M:%S+09:00")
        self.today = now.astimezone(JST).date()
        # (type, key) -> (request index, record after the change, or None when removed); checked at the end
        self._touched: dict[tuple[str, str], tuple[int | None, dict[str, Any] | None]] = {}
        self._removed: dict[tuple[str, str], dict[str, Any]] = {}
        self._bounds: dict[str, tuple[str, str] | None] = {}

    # ----- reading -------------------------------------------------------------------------------------

    def get(self, rtype: str, key: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT body FROM records WHERE type = ? AND key = ?", (rtype, key)
        ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def version(self, rtype: str, key: str) -> int | None:
        row = self._conn.execute(
            "SELECT version FROM records WHERE type = ? AND key = ?", (rtype, key)
        ).fetchone()
        return None if row is None else int(row[0])

    def children(self, rtype: str, parent: str) -> list[dict[str, Any]]:
        """The residents of a household (``resident``) or the seals of a person (``seal``), in key order."""
        rows = self._conn.execute(
            "SELECT body FROM records INDEXED BY records_ref WHERE type = ? AND ref = ? ORDER BY key",
            (rtype, parent),
        ).fetchall()
        return [dict(orjson.loads(body)) for (body,) in rows]

    def taxes(self, atena_no: str) -> list[dict[str, Any]]:
        rows = self._conn.execute(
            "SELECT body FROM records WHERE type = 'tax' AND key > ? AND key < ? ORDER BY key",
            (atena_no + "|", atena_no + "}"),
        ).fetchall()
        return [dict(orjson.loads(body)) for (body,) in rows]

    def sample(self, rtype: str, rng: random.Random) -> dict[str, Any] | None:
        """A record of ``rtype`` picked at random (uniform enough for numbered keys), or None when none."""
        bounds = self._key_bounds(rtype)
        if bounds is None:
            return None
        probe = _probe(bounds[0], bounds[1], rng)
        if probe is None:
            offset = int(rng.random() * max(1, self.counts.get(rtype, 1)))
            row = self._conn.execute(
                "SELECT body FROM records WHERE type = ? ORDER BY key LIMIT 1 OFFSET ?", (rtype, offset)
            ).fetchone()
        else:
            row = self._conn.execute(
                "SELECT body FROM records WHERE type = ? AND key >= ? ORDER BY key LIMIT 1", (rtype, probe)
            ).fetchone()
        if row is None:
            row = self._conn.execute(
                "SELECT body FROM records WHERE type = ? ORDER BY key LIMIT 1", (rtype,)
            ).fetchone()
        return None if row is None else dict(orjson.loads(row[0]))

    def next_key(self, rtype: str) -> str:
        """An unused key for a new household, resident or seal: one past the highest numbered key."""
        highest = ""
        for table in ("records", "gone"):
            row = self._conn.execute(
                f"SELECT key FROM {table} WHERE type = ? ORDER BY key DESC LIMIT 1",  # noqa: S608  table, column and placeholder text from constants; values are bound
                (rtype,),
            ).fetchone()
            if row is not None and (len(row[0]), row[0]) > (len(highest), highest):
                highest = row[0]
        width = len(highest) if highest.isdigit() else (8 if rtype == "seal" else 10)
        number = int(highest) + 1 if highest.isdigit() else 1
        while True:
            key = f"{number:0{width}d}"
            if self.version(rtype, key) is None and not self._was_removed(rtype, key):
                self._bounds.pop(rtype, None)
                return key
            number += 1

    def _was_removed(self, rtype: str, key: str) -> bool:
        row = self._conn.execute("SELECT 1 FROM gone WHERE type = ? AND key = ?", (rtype, key)).fetchone()
        return row is not None

    def _key_bounds(self, rtype: str) -> tuple[str, str] | None:
        if rtype not in self._bounds:
            low = self._conn.execute(
                "SELECT key FROM records WHERE type = ? ORDER BY key LIMIT 1", (rtype,)
            ).fetchone()
            high = self._conn.execute(
                "SELECT key FROM records WHERE type = ? ORDER BY key DESC LIMIT 1", (rtype,)
            ).fetchone()
            self._bounds[rtype] = None if low is None or high is None else (low[0], high[0])
        return self._bounds[rtype]

    # ----- writing -------------------------------------------------------------------------------------

    def upsert(self, record: dict[str, Any], index: int | None = None) -> int:
        """Insert or replace a whole linkage record; return its seq. The store sets ``version``."""
        try:
            rtype = check_record(record)
        except LinkageError as exc:
            raise ChangeError(str(exc), index) from None
        problem = record_problem(record, rtype)
        if problem:
            raise ChangeError(problem, index)
        rec = canonical(record)
        key = record_key(rec)
        current = self.version(rtype, key)
        if current is None:
            row = self._conn.execute(
                "DELETE FROM gone WHERE type = ? AND key = ? RETURNING version", (rtype, key)
            ).fetchone()
            version = (int(row[0]) if row else 0) + 1
            self.counts[rtype] += 1
            self._bounds.pop(rtype, None)
        else:
            version = current + 1
        rec["version"] = version
        if rtype == "resident":
            rec["updated_at"] = self.updated_at
        body, row = orjson.dumps(rec), encode_row(rec)
        seq = self._next_seq()
        self._conn.execute(
            "INSERT OR REPLACE INTO records (type, key, version, seq, body, ref, row) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (rtype, key, version, seq, body, record_ref(rec), row),
        )
        self._log(seq, "upsert", rtype, key, version, body, row)
        self._touched[(rtype, key)] = (index, rec)
        self.last_version = version
        return seq

    def remove(self, rtype: str, key: str, index: int | None = None) -> int:
        """Remove a record (its last version is kept in ``gone``); return the change's seq."""
        if rtype not in FIELDS_BY_TYPE:
            raise ChangeError(f"unknown record type {rtype!r}", index)
        row = self._conn.execute(
            "DELETE FROM records WHERE type = ? AND key = ? RETURNING version, body", (rtype, key)
        ).fetchone()
        if row is None:
            raise ChangeError(f"no {rtype} record with that key to remove", index)
        version = int(row[0]) + 1
        self._conn.execute(
            "INSERT OR REPLACE INTO gone (type, key, version) VALUES (?, ?, ?)", (rtype, key, version)
        )
        self.counts[rtype] -= 1
        self._bounds.pop(rtype, None)
        seq = self._next_seq()
        self._log(seq, "remove", rtype, key, version, None, None)
        self._removed.setdefault((rtype, key), orjson.loads(row[1]))
        self._touched[(rtype, key)] = (index, None)
        self.last_version = version
        return seq

    def skip(self, count: int) -> None:
        """Leave ``count`` sequence numbers without a logged change (a gap, as if changes were lost)."""
        self.seq += count

    def _next_seq(self) -> int:
        self.seq += 1
        self.seqs.append(self.seq)
        return self.seq

    def _log(
        self, seq: int, op: str, rtype: str, key: str, version: int, body: bytes | None, row: bytes | None
    ) -> None:
        if not self.logging:
            return
        head = orjson.dumps({"seq": seq, "op": op, "t": rtype, "key": key, "version": version, "at": self.at})
        entry = head[:-1] + b',"record":' + (body if body is not None else b"null") + b"}"
        row_entry = head[:-1] + b',"row":' + (row if row is not None else b"null") + b"}"
        self._conn.execute(
            "INSERT INTO changes (seq, type, key, op, version, entry, row_entry) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, rtype, key, op, version, entry, row_entry),
        )

    # ----- consistency ---------------------------------------------------------------------------------

    def check(self) -> None:
        """Raise ``ChangeError`` if a change since the last check left a dangling reference."""
        touched, self._touched = self._touched, {}
        removed, self._removed = self._removed, {}
        # removals first: a record left pointing at a removed one is reported as the removal's fault
        for (rtype, key), (index, rec) in sorted(touched.items(), key=lambda item: item[1][1] is not None):
            if rec is not None:
                for (from_type, field), to_type in REFERENCES.items():
                    if from_type == rtype and self.version(to_type, rec[field]) is None:
                        raise ChangeError(f"{rtype}.{field} refers to a {to_type} that does not exist", index)
            elif (reason := self._still_referred(rtype, key, removed.get((rtype, key)))) is not None:
                raise ChangeError(f"the removed {rtype} is still referred to by {reason}", index)

    def _still_referred(self, rtype: str, key: str, old: dict[str, Any] | None) -> str | None:
        if self.version(rtype, key) is not None:
            return None  # removed and written again in the same batch
        if rtype == "household" and self.children("resident", key):
            return "a resident's household_no"
        if rtype == "resident":
            if self._conn.execute(
                "SELECT 1 FROM records INDEXED BY records_ref WHERE type = 'seal' AND ref = ? LIMIT 1", (key,)
            ).fetchone():
                return "a seal's owner_atena_no"
            if self.taxes(key):
                return "a tax record's owner_atena_no"
            household = self.get("household", old["household_no"]) if old else None
            if household is not None and household["head_atena_no"] == key:
                return "its household's head_atena_no"
        return None

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """Changes made inside are checked at the end and undone together if anything raises."""
        self.check()
        saved = (self.seq, dict(self.counts), len(self.seqs))
        self._conn.execute("SAVEPOINT event")
        try:
            yield
            self.check()
        except BaseException:
            self._conn.execute("ROLLBACK TO event")
            self._conn.execute("RELEASE event")
            self.seq, self.counts, n_seqs = saved
            self._touched, self._removed = {}, {}
            del self.seqs[n_seqs:]
            self._bounds.clear()
            raise
        self._conn.execute("RELEASE event")

    def finish(self, keep_changes: int) -> None:
        """Write the meta; with ``keep_changes``, drop older log entries."""
        if keep_changes and self.seq - keep_changes > self.pruned_through:
            self.pruned_through = self.seq - keep_changes
            self._conn.execute("DELETE FROM changes WHERE seq <= ?", (self.pruned_through,))
        self._conn.executemany(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)",
            [
                ("epoch", self.epoch),
                ("seq", str(self.seq)),
                ("counts", orjson.dumps(self.counts).decode()),
                ("pruned_through", str(self.pruned_through)),
            ],
        )

    def restart(self) -> None:
        """A reset: a new epoch whose seq starts at 0, an empty log; the records stay."""
        self.epoch, self.seq, self.pruned_through = new_epoch(), 0, 0
        self._conn.execute("DELETE FROM changes")


def _probe(low: str, high: str, rng: random.Random) -> str | None:
    """A random key between two keys whose leading digit runs have the same length (None otherwise)."""
    lo_digits = _leading_digits(low)
    hi_digits = _leading_digits(high)
    if not lo_digits or len(lo_digits) != len(hi_digits):
        return None
    lo, hi = int(lo_digits), int(hi_digits)
    return f"{lo + int(rng.random() * (hi - lo + 1)):0{len(lo_digits)}d}"


def _leading_digits(key: str) -> str:
    end = 0
    while end < len(key) and key[end].isdigit():
        end += 1
    return key[:end]


class StoreWriter:
    """The sim's one writer of a store file (see the module docstring); not for concurrent use."""

    def __init__(self, path: Path | str, keep_changes: int = 0) -> None:
        self.path = Path(path)
        self.keep_changes = keep_changes
        self._conn: sqlite3.Connection | None = None
        self._ident: tuple[int, int] | None = None

    def connection(self) -> sqlite3.Connection:
        """The connection to the current file (reopened when the file was rebuilt), schema up to date."""
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StoreMissing(str(self.path)) from None
        ident = (st.st_dev, st.st_ino)
        if self._conn is None or ident != self._ident:
            self.close()
            conn = connect(self.path)
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            ensure_log_schema(conn)
            self._conn, self._ident = conn, ident
        return self._conn

    @contextlib.contextmanager
    def batch(self) -> Iterator[Batch]:
        """One write transaction: committed with the meta when the block ends, rolled back if it raises."""
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            batch = Batch(conn, read_meta(conn))
            yield batch
            batch.check()
            batch.finish(self.keep_changes)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def apply(self, changes: list[Any]) -> dict[str, Any]:
        """Apply ``[{"op": "upsert", "record": {...}} | {"op": "remove", "t": ..., "key": ...}]`` at once."""
        with self.batch() as batch:
            versions = [_apply_one(batch, change, i) for i, change in enumerate(changes)]
        return {"epoch": batch.epoch, "seqs": batch.seqs, "versions": versions, "last_seq": batch.seq}

    def gap(self, skip: int, changes: list[Any]) -> dict[str, Any]:
        """Jump the sequence by ``skip``; ``changes`` (at most ``skip``) are applied inside the gap, unlogged."""
        if len(changes) > skip:
            raise ChangeError(f"at most skip={skip} changes fit in the gap")
        with self.batch() as batch:
            first = batch.seq + 1
            batch.logging = False
            for i, change in enumerate(changes):
                _apply_one(batch, change, i)
            batch.seq = first - 1 + skip
        return {"epoch": batch.epoch, "skipped": [first, batch.seq], "last_seq": batch.seq}

    def reset(self) -> dict[str, Any]:
        """Start a new epoch at seq 0 with an empty change log; the records stay as they are."""
        with self.batch() as batch:
            previous = batch.epoch
            batch.restart()
        return {"epoch": batch.epoch, "previous_epoch": previous, "last_seq": batch.seq}

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
        self._conn, self._ident = None, None


def _apply_one(batch: Batch, change: Any, index: int) -> int:
    """Apply one change of a request; return the record's new version."""
    if not isinstance(change, dict):
        raise ChangeError("a change must be a JSON object", index)
    op = change.get("op")
    if op == "upsert":
        record = change.get("record")
        if not isinstance(record, dict):
            raise ChangeError("an upsert needs the whole record in 'record'", index)
        batch.upsert(record, index)
        return batch.last_version
    if op == "remove":
        rtype, key = change.get("t"), change.get("key")
        if not isinstance(rtype, str) or not isinstance(key, str):
            raise ChangeError("a remove needs 't' and 'key' (text)", index)
        batch.remove(rtype, key, index)
        return batch.last_version
    raise ChangeError("'op' must be 'upsert' or 'remove'", index)


def ensure_log_schema(conn: sqlite3.Connection) -> None:
    """Bring a store built before the change log existed up to date (``ref`` column, log tables, epoch)."""
    columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    meta = read_meta(conn)
    if "ref" in columns and {"changes", "gone"} <= tables and "epoch" in meta:
        _add_row_columns(conn, columns)
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        if "ref" not in columns:
            conn.execute("ALTER TABLE records ADD COLUMN ref TEXT")
            for rtype in ("resident", "seal"):
                rows = conn.execute("SELECT key, body FROM records WHERE type = ?", (rtype,)).fetchall()
                conn.executemany(
                    "UPDATE records SET ref = ? WHERE type = ? AND key = ?",
                    [(record_ref(orjson.loads(body)), rtype, key) for key, body in rows],
                )
        for statement in log_schema_statements():
            conn.execute(statement)
        defaults = {"epoch": new_epoch(), "seq": "0", "pruned_through": "0"}
        conn.executemany(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", [(k, v) for k, v in defaults.items()]
        )
        _add_row_columns(conn, columns | {"ref"})
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _add_row_columns(conn: sqlite3.Connection, record_columns: set[str]) -> None:
    """Columns for the rows encoding in a store built before it: left null there, the readers encode those
    records and changes when asked (``records.row``, ``changes.row_entry``)."""
    if "row" not in record_columns:
        conn.execute("ALTER TABLE records ADD COLUMN row BLOB")
    if not has_column(conn, "changes", "row_entry"):
        conn.execute("ALTER TABLE changes ADD COLUMN row_entry BLOB")
