"""Certificate serials, ``YYYYMMDD-SERIES-NNNNNN`` (owns ``serial_counter`` and ``serial_series``).

The series is a random 6-hex-digit prefix made when the database is created and made again at every
restore from a backup: two installations (a demo and a by-hand city on one PC, two cities) never share a
serial, and a restored database never numbers again a serial that was printed after its backup.
"""

from __future__ import annotations

from issuance_server.issuing import store
from issuance_server.storage.engine import Tx


def allocate(tx: Tx, day: str) -> str:
    """The next serial of ``day`` (``YYYYMMDD``) in the current series."""
    return store.next_serial(tx, day)


def start_series(tx: Tx, reason: str) -> str:
    """Start a new series (inside the caller's transaction) and return its prefix."""
    return store.start_series(tx, reason)
