"""Suite-wide: modules that cross real processes run first, so that under xdist (``--dist loadfile``: a module
stays on one worker, with its fixtures) the long ones start early and the short ones fill the gaps."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    del config
    e2e_modules = {item.path for item in items if item.get_closest_marker("e2e") is not None}
    items.sort(key=lambda item: item.path not in e2e_modules)  # stable: each module keeps its order
