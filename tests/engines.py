"""The server's tests on both engines: ``database_url`` is a fixture with a parameter per engine (``""`` for
SQLite in the test's data folder; for PostgreSQL a database of its own in the run's throwaway cluster, made
from this worker's migrated template, dropped after the test). Import the fixtures into a conftest."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported by the fixtures: psycopg takes ~0.2 s to import, and most runs need no cluster
    from konbini_demo.postgres_cluster import PostgresCluster

ENGINES = ("sqlite", "postgresql")
_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres_template(postgres_cluster: PostgresCluster, postgres_database_name: str) -> str:
    """This worker's template database, migrated once: each test's database is a copy (``CREATE DATABASE
    ... TEMPLATE``), faster than migrating each."""
    import psycopg

    from issuance_server.storage.migrate import migrate_postgres
    from konbini_demo.postgres_cluster import fresh_database

    name = f"{postgres_database_name}_template"
    with psycopg.connect(fresh_database(postgres_cluster, name), autocommit=True) as conn:
        migrate_postgres(conn)
    return name


@pytest.fixture(params=ENGINES)
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """The test's database on each engine in turn."""
    if request.param == "sqlite":
        yield ""
        return
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    template: str = request.getfixturevalue("postgres_template")
    name = f"{request.getfixturevalue('postgres_database_name')}_{next(_numbers)}"
    cluster.create_database(name, template)
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)
