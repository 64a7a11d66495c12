"""Files no one else can read: every konbini process makes its files 0600 and its folders 0700."""

from __future__ import annotations

import os


def private_files() -> None:
    """Set umask 077 for this process (call first in every command's ``main``): databases, their WAL, the
    replica, keys, backups and logs it creates are its user's alone."""
    os.umask(0o077)
