"""Files no one else can read: every konbini process makes its files 0600 and its folders 0700."""

from __future__ import annotations

import os
from pathlib import Path


def private_files() -> None:
    """Set umask 077 for this process (call first in every command's ``main``): databases, their WAL, the
    replica, keys, backups and logs it creates are its user's alone."""
    os.umask(0o077)


class OutputError(Exception):
    """An output folder that cannot take the files a command is about to write."""


def writable_folder(folder: Path) -> None:
    """Make ``folder`` if needed and prove a file can be written in it, before any work whose result would
    otherwise be lost (a signed certificate, a rendered PDF)."""
    probe = folder / f".konbini-write-check-{os.getpid()}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise OutputError(f"cannot write in {folder}: {exc.strerror or exc}; choose another --out") from None
