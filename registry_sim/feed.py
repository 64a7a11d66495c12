"""Reading the change log and record versions (the read side of ``/feed``, ``/versions``, ``/records``).

``FeedReader`` keeps one connection per thread (reopened when the store file was rebuilt); each call reads in
one transaction, so a page of changes and its ``last_seq``, or a set of versions and their ``seq``, belong to
the same moment.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson

from registry_sim.changelog import StoreMissing
from registry_sim.store import Counts, connect, has_column, meta_state, read_meta
from wire.linkage import RECORD_TYPES, encode_row

DEFAULT_LIMIT: Final = 1000
MAX_LIMIT: Final = 10_000
MAX_VERSION_KEYS: Final = 1000


class FeedRefusal(Exception):
    """A feed request that cannot be answered with changes: ``code`` is ``epoch_changed``, ``seq_ahead`` or
    ``seq_expired``; ``details`` go into the error answer."""

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


@dataclass
class FeedPage:
    """Changes after some seq, as their encoded entries, and the registry's last seq at that moment."""

    epoch: str
    last_seq: int
    entries: list[bytes] = field(default_factory=list)

    def body(self, entries: list[bytes] | None = None) -> bytes:
        """The JSON answer ``{"epoch", "changes", "last_seq"}`` (with other ``entries`` if given)."""
        listed = self.entries if entries is None else entries
        return b"".join(
            (
                b'{"epoch":',
                orjson.dumps(self.epoch),
                b',"changes":[',
                b",".join(listed),
                b'],"last_seq":',
                str(self.last_seq).encode(),
                b"}",
            )
        )


def _row_entry(entry: bytes) -> bytes:
    """A change logged before the rows encoding existed, with its record as a row."""
    change = orjson.loads(entry)
    record = change.pop("record")
    return orjson.dumps({**change, "row": None if record is None else orjson.Fragment(encode_row(record))})


class FeedReader:
    """Reads one store file (see the module docstring)."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self._local = threading.local()

    def _conn(self) -> sqlite3.Connection:
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            raise StoreMissing(str(self.path)) from None
        ident = (st.st_dev, st.st_ino)
        local = self._local
        if getattr(local, "ident", None) != ident:
            old = getattr(local, "conn", None)
            if old is not None:
                old.close()
            local.conn, local.ident = connect(self.path), ident
        conn: sqlite3.Connection = local.conn
        return conn

    def state(self) -> tuple[str, int, Counts]:
        """(epoch, seq, counts)."""
        return meta_state(read_meta(self._conn()))

    def page(self, after: int, limit: int, epoch: str | None = None, rows: bool = False) -> FeedPage:
        """Up to ``limit`` changes with seq > ``after``, in seq order; ``FeedRefusal`` when that cannot be.
        With ``rows`` each change carries its record as ``"row"`` in the rows encoding (``wire.linkage.ROWS``)
        instead of ``"record"``."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            meta = read_meta(conn)
            current, last_seq, _ = meta_state(meta)
            if epoch is not None and epoch != current:
                raise FeedRefusal(
                    "epoch_changed",
                    "the registry's sequence was reset: load a snapshot, then follow from its seq",
                    epoch=current,
                    last_seq=last_seq,
                )
            if after > last_seq:
                raise FeedRefusal(
                    "seq_ahead",
                    "'after' is beyond the registry's last seq: load a snapshot",
                    epoch=current,
                    last_seq=last_seq,
                )
            pruned = int(meta.get("pruned_through", "0"))
            if after < pruned:
                raise FeedRefusal(
                    "seq_expired",
                    "changes after 'after' are no longer kept: load a snapshot",
                    epoch=current,
                    last_seq=last_seq,
                    pruned_through=pruned,
                )
            column = "row_entry" if rows and has_column(conn, "changes", "row_entry") else "NULL"
            found = conn.execute(
                f"SELECT entry, {column} FROM changes WHERE seq > ? ORDER BY seq LIMIT ?",  # noqa: S608  table, column and placeholder text from constants; values are bound
                (after, limit),
            ).fetchall()
        finally:
            conn.execute("COMMIT")
        if not rows:
            return FeedPage(current, last_seq, [entry for entry, _ in found])
        return FeedPage(current, last_seq, [row_entry or _row_entry(entry) for entry, row_entry in found])

    def versions(self, keys: list[tuple[str, str]]) -> dict[str, Any]:
        """``{"epoch", "seq", "versions": {"type/key": version or None}}`` read in one transaction."""
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            epoch, seq, _ = meta_state(read_meta(conn))
            found: dict[str, int | None] = {}
            sql = "SELECT version FROM records WHERE type = ? AND key = ?"
            for rtype, key in keys:
                row = conn.execute(sql, (rtype, key)).fetchone()
                found[f"{rtype}/{key}"] = None if row is None else row[0]
        finally:
            conn.execute("COMMIT")
        return {"epoch": epoch, "seq": seq, "versions": found}

    def record(self, rtype: str, key: str) -> bytes | None:
        """The encoded current record, or None."""
        if rtype not in RECORD_TYPES:
            return None
        row = (
            self._conn()
            .execute("SELECT body FROM records WHERE type = ? AND key = ?", (rtype, key))
            .fetchone()
        )
        return None if row is None else bytes(row[0])
