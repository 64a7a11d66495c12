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


# The modules a full run spends most time in (worker-seconds, ``--durations=0``, 2026-12-07), run first: the
# Makefile's xdist hands out modules in collection order (``--no-loadscope-reorder``), so no long one is left
# for the end. xdist's own order, by number of tests, started these few-test modules last, and one worker then
# ran on alone for a minute. A module missing here only starts later; refresh the table as modules grow.
HEAVY_MODULES = {
    "e2e/test_kiosk_ui_e2e.py": 96,
    "e2e/test_nodes_e2e.py": 95,
    "e2e/test_desk_e2e.py": 84,
    "e2e/test_kiosk_phone_e2e.py": 79,
    "e2e/test_kiosk_screens_e2e.py": 73,
    "e2e/test_desk_people_e2e.py": 70,
    "e2e/test_kiosk_app_e2e.py": 70,
    "e2e/test_openapi_e2e.py": 65,
    "e2e/test_registry_link_e2e.py": 64,
    "e2e/test_kiosk_crash_e2e.py": 63,
    "e2e/test_audit_e2e.py": 57,
    "e2e/test_server_crash_e2e.py": 56,
    "e2e/test_readme_e2e.py": 55,
    "e2e/test_backup_e2e.py": 44,
    "e2e/test_kiosk_e2e.py": 44,
    "e2e/test_desk_demo_e2e.py": 36,
    "e2e/test_staff_security_e2e.py": 36,
    "e2e/test_clock_steps_e2e.py": 33,
    "server/test_refusals.py": 31,
    "e2e/test_postgres_e2e.py": 30,
    "e2e/test_tls_e2e.py": 27,
    "e2e/test_command_bad_input_e2e.py": 26,
    "server/test_audit_trail.py": 26,
    "server/test_settings.py": 21,
}


def _module_seconds(item: pytest.Item) -> int:
    return HEAVY_MODULES.get(item.nodeid.split("::")[0].removeprefix("tests/"), 0)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that uses the cluster starts a service: it is an end-to-end test (``-m "not e2e"`` leaves it out).
    The heaviest modules first (stable: each module's tests keep their order)."""
    for item in items:
        if "postgres_cluster" in getattr(item, "fixturenames", ()) or on_postgres(item):
            item.add_marker(pytest.mark.e2e)
    items.sort(key=lambda item: -_module_seconds(item))
