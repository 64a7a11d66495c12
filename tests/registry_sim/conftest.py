"""Fixtures for the registry sim: a generated synthetic city (records) and a store seeded with one."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from registry_sim.generator import generate_city
from registry_sim.store import build_store

CITY_RESIDENTS = 5000
CITY_SEED = 20261
FISCAL_YEAR = 2026


@pytest.fixture(scope="session")
def city() -> list[dict[str, Any]]:
    """The records of a 5,000-resident synthetic city."""
    return list(generate_city(CITY_RESIDENTS, CITY_SEED, FISCAL_YEAR))


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding a 1,200-resident city (read-only for tests: copy it before changing)."""
    path = tmp_path_factory.mktemp("registry") / "registry.sqlite3"
    build_store(path, generate_city(1200, 7, FISCAL_YEAR), source="test")
    return path


@pytest.fixture
def fresh_db(seeded_db: Path, tmp_path: Path) -> Path:
    """A private copy of the seeded store, for tests that change it."""
    path = tmp_path / "registry.sqlite3"
    shutil.copy(seeded_db, path)
    return path
