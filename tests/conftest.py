"""Suite-wide: modules that cross real processes run first, so that under xdist (``--dist loadfile``: a module
stays on one worker, with its fixtures) the long ones start early and the short ones fill the gaps."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    e2e_modules = {item.path for item in items if item.get_closest_marker("e2e") is not None}
    items.sort(key=lambda item: item.path not in e2e_modules)  # stable: each module keeps its order


@pytest.fixture(autouse=True)
def _umask_restored() -> Iterator[None]:
    """A test that runs a command's ``main()`` in-process gets its umask 077 (wire.files.private_files); the
    next test in the worker starts with the umask the run began with."""
    before = os.umask(0o077)
    os.umask(before)
    yield
    os.umask(before)
