"""Certificate serials, ``YYYYMMDD-SERIES-NNNNNN`` (owns ``serial_counter`` and ``serial_series``).

The series is a random 6-hex-digit prefix made when the database is created and made again at every
restore from a backup: two installations (a demo and a by-hand city on one PC, two cities) never share a
serial, and a restored database never numbers again a serial that was printed after its backup.
"""

from __future__ import annotations

import secrets
import sqlite3
from datetime import UTC, datetime

from issuance_server.storage.database import Transaction


async def allocate(tx: Transaction, day: str) -> str:
    """The next serial of ``day`` (``YYYYMMDD``) in the current series (one hop to the database's thread)."""
    return await tx.run(lambda conn: _allocate(conn, day))


def _allocate(conn: sqlite3.Connection, day: str) -> str:
    row = conn.execute("SELECT prefix FROM serial_series ORDER BY rowid DESC LIMIT 1").fetchone()
    assert row is not None, "migration 0009 makes the first series"  # noqa: S101  an invariant that narrows a type, not a check of input
    conn.execute(
        "INSERT INTO serial_counter (day, last) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET last = last + 1",
        (day,),
    ).close()
    count = conn.execute("SELECT last FROM serial_counter WHERE day = ?", (day,)).fetchone()
    assert count is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    return f"{day}-{row[0]}-{int(count[0]):06d}"


def start_series(conn: sqlite3.Connection, reason: str) -> str:
    """Start a new series (inside the caller's transaction) and return its prefix."""
    while True:
        prefix = secrets.token_hex(3).upper()
        try:
            conn.execute(
                "INSERT INTO serial_series (prefix, started_at, reason) VALUES (?, ?, ?)",
                (prefix, datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), reason),
            )
        except sqlite3.IntegrityError:
            continue  # the same 24 random bits again: draw once more
        conn.execute("DELETE FROM serial_counter")
        return prefix
