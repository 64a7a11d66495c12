"""Suite-wide fixtures."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

pytest_plugins = ["tests.engines"]  # database_url: the server's tests on each engine

if TYPE_CHECKING:  # imported by the fixtures: psycopg takes ~0.2 s to import, and most runs need no cluster
    from konbini_demo.postgres_cluster import PostgresCluster


@pytest.fixture(autouse=True)
def _umask_restored() -> Iterator[None]:
    """A test that runs a command's ``main()`` in-process gets its umask 077 (wire.files.private_files): each
    test ends with the umask it began with, so the next test in the worker is not affected."""
    before = os.umask(0o077)
    os.umask(before)
    yield
    os.umask(before)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """The run's throwaway PostgreSQL cluster (tests/postgres_cluster.py), shared by the xdist workers: started
    by the first that asks, stopped by the last to finish. A run whose tests ask for none starts none."""
    from konbini_demo.postgres_cluster import acquire_shared_cluster, release_shared_cluster

    cluster = acquire_shared_cluster()
    yield cluster
    release_shared_cluster(cluster)


@pytest.fixture(scope="session")
def postgres_database_name() -> str:
    """This worker's database in the cluster (``konbini_gw0``, ...; ``konbini_main`` without xdist): made with
    ``konbini_demo.postgres_cluster.fresh_database``, by the tests that use it."""
    from konbini_demo.postgres_cluster import worker_database_name

    return worker_database_name()


def on_postgres(item: pytest.Item) -> bool:
    """Whether a collected test runs on PostgreSQL (``database_url``'s parameter, tests/engines.py)."""
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("database_url") == "postgresql"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the cluster starts a service: it is an end-to-end test (``-m "not e2e"`` leaves it out)."""
    for item in items:
        if "postgres_cluster" in getattr(item, "fixturenames", ()) or on_postgres(item):
            item.add_marker(pytest.mark.e2e)
