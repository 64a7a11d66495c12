"""The kiosk's journal: what the terminal owes and printed, on disk before it acts, so that a kiosk app that
dies (power, kill -9) finishes at its next start what it left open (:mod:`kiosk.unfinished`).

One SQLite file in the kiosk's data folder (mode 0600, ``synchronous=FULL``: a line is on the disk when the
call returns). Per server session: each payment (the order it pays for, the device's reference once taken)
and each certificate issued on it (printing, printed, not printed, reported). A session's lines are
deleted once the server has ended the session and every payment is settled with the device: the journal
holds only what is open, and nothing about the resident (no name, no card). A print in doubt (the printer
stopped answering mid-job) outlives its session's lines in ``doubts`` until the printer says what came out.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS payments (
    order_id TEXT PRIMARY KEY,           -- the quote the payment is for
    session_id TEXT NOT NULL,
    amount_yen INTEGER NOT NULL,
    reference TEXT                       -- the device's, once it took the money
);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY,
    order_id TEXT NOT NULL REFERENCES payments (order_id),
    fee_yen INTEGER NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('issued', 'printing', 'printed', 'not_printed', 'in_doubt')),
    job TEXT,                            -- the printer's reference of its job, once it has it
    reported INTEGER NOT NULL DEFAULT 0  -- the server has the print report
);
CREATE TABLE IF NOT EXISTS doubts (
    serial TEXT PRIMARY KEY,
    order_id TEXT NOT NULL,              -- the payment it was paid with (the device's ledger knows it)
    job TEXT,                            -- the printer's reference of its job
    reported INTEGER NOT NULL DEFAULT 0  -- the server keeps it as in doubt
);
"""


@dataclass
class OpenCertificate:
    serial: str
    state: str
    reported: bool
    job: str | None = None
    fee_yen: int = 0


@dataclass(frozen=True)
class Doubt:
    """A certificate whose job the printer had when it stopped answering: it may still come out."""

    serial: str
    order_id: str
    job: str | None
    reported: bool


@dataclass
class OpenPayment:
    order_id: str
    amount_yen: int
    reference: str | None
    certificates: list[OpenCertificate] = field(default_factory=list)


@dataclass
class OpenSession:
    session_id: str
    payments: list[OpenPayment] = field(default_factory=list)


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        self.path = path
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(SCHEMA)
        self._allow_in_doubt()

    def _allow_in_doubt(self) -> None:
        """A journal from before prints in doubt: its ``certificates`` table rebuilt with the new state allowed
        (SQLite cannot change a CHECK in place), its lines kept."""
        sql = self._db.execute("SELECT sql FROM sqlite_master WHERE name = 'certificates'").fetchone()[0]
        if "'in_doubt'" in sql:
            return
        create = SCHEMA[
            SCHEMA.index("CREATE TABLE IF NOT EXISTS certificates") : SCHEMA.index(
                "CREATE TABLE IF NOT EXISTS doubts"
            )
        ]
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("ALTER TABLE certificates RENAME TO certificates_before")
            self._db.execute(create)
            self._db.execute("INSERT INTO certificates SELECT * FROM certificates_before")
            self._db.execute("DROP TABLE certificates_before")

    def close(self) -> None:
        self._db.close()

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(sql, args)

    def paying(self, session_id: str, order_id: str, amount_yen: int) -> None:
        """Before the device is asked: a payment for ``order_id`` may be taken from now on."""
        self._write(
            "INSERT OR REPLACE INTO payments (order_id, session_id, amount_yen) VALUES (?, ?, ?)",
            (order_id, session_id, amount_yen),
        )

    def paid(self, order_id: str, reference: str) -> None:
        self._write("UPDATE payments SET reference = ? WHERE order_id = ?", (reference, order_id))

    def issued(self, order_id: str, certificates: list[tuple[str, int]]) -> None:
        """The server's answer: the serials (and fees) issued on the order."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO certificates (serial, order_id, fee_yen, state) VALUES (?, ?, ?, 'issued')",
                [(serial, order_id, fee) for serial, fee in certificates],
            )

    def printing(self, serial: str) -> None:
        """Before the job goes to the printer."""
        self._write("UPDATE certificates SET state = 'printing' WHERE serial = ?", (serial,))

    def print_job(self, serial: str, job: str) -> None:
        """The printer has the job (``job``: its reference), whatever becomes of it."""
        self._write("UPDATE certificates SET job = ? WHERE serial = ?", (job, serial))

    def printed(self, serial: str, printed: bool) -> None:
        state = "printed" if printed else "not_printed"
        self._write("UPDATE certificates SET state = ? WHERE serial = ?", (state, serial))

    def reported(self, serial: str) -> None:
        self._write("UPDATE certificates SET reported = 1 WHERE serial = ?", (serial,))

    def in_doubt(self, serial: str) -> None:
        """The printer stopped answering before it said whether the job came out, or cancelled it."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE certificates SET state = 'in_doubt' WHERE serial = ?", (serial,))
            self._db.execute(
                "INSERT OR IGNORE INTO doubts (serial, order_id, job)"
                " SELECT serial, order_id, job FROM certificates WHERE serial = ?",
                (serial,),
            )

    def doubt_reported(self, serial: str) -> None:
        """The server keeps the certificate as in doubt: no session end or sweep voids it."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("UPDATE certificates SET reported = 1 WHERE serial = ?", (serial,))
            self._db.execute("UPDATE doubts SET reported = 1 WHERE serial = ?", (serial,))

    def doubts(self) -> list[Doubt]:
        rows = self._db.execute("SELECT serial, order_id, job, reported FROM doubts ORDER BY rowid")
        return [Doubt(serial, order_id, job, bool(reported)) for serial, order_id, job, reported in rows]

    def doubt_settled(self, serial: str) -> None:
        """The printer said what came out, the server has it and the device gave back what was owed."""
        self._write("DELETE FROM doubts WHERE serial = ?", (serial,))

    def settled(self, session_id: str) -> None:
        """The server ended the session and every payment is settled with the device: nothing is open."""
        with self._db:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute(
                "DELETE FROM certificates WHERE order_id IN (SELECT order_id FROM payments WHERE session_id = ?)",
                (session_id,),
            )
            self._db.execute("DELETE FROM payments WHERE session_id = ?", (session_id,))

    def open_sessions(self) -> list[OpenSession]:
        """What a kiosk that died left open, by session, in the order the payments were journaled."""
        sessions: dict[str, OpenSession] = {}
        payments: dict[str, OpenPayment] = {}
        for order_id, session_id, amount, reference in self._db.execute(
            "SELECT order_id, session_id, amount_yen, reference FROM payments ORDER BY rowid"
        ):
            payment = OpenPayment(order_id, amount, reference)
            payments[order_id] = payment
            sessions.setdefault(session_id, OpenSession(session_id)).payments.append(payment)
        for serial, order_id, state, reported, job, fee in self._db.execute(
            "SELECT serial, order_id, state, reported, job, fee_yen FROM certificates ORDER BY rowid"
        ):
            payments[order_id].certificates.append(OpenCertificate(serial, state, bool(reported), job, fee))
        return list(sessions.values())
