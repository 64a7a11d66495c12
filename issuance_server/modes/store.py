"""The mode's table (``mode_state``, one row): the one place its SQL lives."""

from __future__ import annotations

from typing import Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("mode_state",)


def load(tx: Tx) -> Row | None:
    """The persisted mode: ``mode``, ``manual`` (0/1), ``since``, ``reason``."""
    return tx.one("SELECT mode, manual, since, reason FROM mode_state WHERE id = 1")


def save(tx: Tx, mode: str, manual: bool, since: str, reason: str) -> None:
    tx.execute(
        "UPDATE mode_state SET mode = ?, manual = ?, since = ?, reason = ? WHERE id = 1",
        (mode, int(manual), since, reason),
    )
