"""Suite-wide fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def _umask_restored() -> Iterator[None]:
    """A test that runs a command's ``main()`` in-process gets its umask 077 (wire.files.private_files): each
    test ends with the umask it began with, so the next test in the worker is not affected."""
    before = os.umask(0o077)
    os.umask(before)
    yield
    os.umask(before)
