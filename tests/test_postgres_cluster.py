"""The throwaway PostgreSQL cluster of the tests (tests/postgres_cluster.py): started once a run, a database
per worker reachable over the socket and over TCP, passwords checked for every role but the superuser, clusters
stopped and removed by their last holder, by a ``with`` or by the next run when theirs was killed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import psycopg
import pytest
from psycopg import sql

from konbini_demo.postgres_cluster import (
    BASE_DIR,
    RUN_FILE,
    PostgresCluster,
    Process,
    _locked,
    acquire_shared_cluster,
    fresh_database,
    private_cluster,
    release_shared_cluster,
    sweep,
)

pytestmark = pytest.mark.e2e  # starts PostgreSQL


def _current(url: str) -> tuple[str, str]:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT current_database(), current_user").fetchone()
    assert row is not None
    return row[0], row[1]


def test_the_worker_database_is_reachable_over_the_socket_and_over_tcp(
    postgres_cluster: PostgresCluster, postgres_database_name: str
) -> None:
    assert postgres_database_name.startswith("konbini_")
    url = fresh_database(postgres_cluster, postgres_database_name)

    assert url == postgres_cluster.url(postgres_database_name)
    assert _current(url) == (postgres_database_name, "postgres")
    assert _current(postgres_cluster.tcp_url(postgres_database_name)) == (postgres_database_name, "postgres")
    with psycopg.connect(postgres_cluster.tcp_url(postgres_database_name)) as conn:
        assert conn.execute("SELECT inet_server_addr()::text").fetchone() == ("127.0.0.1/32",)


def test_a_database_from_a_template_has_its_schema_and_drop_ends_its_sessions(
    postgres_cluster: PostgresCluster, postgres_database_name: str
) -> None:
    template = f"{postgres_database_name}_cluster_test"
    fresh_database(postgres_cluster, template)
    postgres_cluster.sql("CREATE TABLE serials (n bigint PRIMARY KEY)", dbname=template)
    postgres_cluster.sql("INSERT INTO serials VALUES (7)", dbname=template)

    url = fresh_database(postgres_cluster, postgres_database_name, template=template)
    with psycopg.connect(url) as copy:
        assert copy.execute("SELECT n FROM serials").fetchall() == [(7,)]
        postgres_cluster.drop_database(postgres_database_name)  # this session still open
        with pytest.raises(psycopg.OperationalError):
            copy.execute("SELECT 1")
    assert (
        postgres_cluster.sql("SELECT 1 FROM pg_database WHERE datname = %s", [postgres_database_name]) == []
    )
    postgres_cluster.drop_database(template)


def test_a_wrong_password_is_refused_over_tcp_for_a_role_that_is_not_superuser(
    postgres_cluster: PostgresCluster, postgres_database_name: str
) -> None:
    role = f"{postgres_database_name}_clerk"  # roles are the cluster's: one per worker
    postgres_cluster.sql(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
    postgres_cluster.sql(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal("right-password")
        )
    )
    try:
        assert _current(postgres_cluster.tcp_url("postgres", role, "right-password")) == ("postgres", role)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            _current(postgres_cluster.tcp_url("postgres", role, "wrong-password"))
    finally:
        postgres_cluster.sql(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_the_shared_cluster_is_started_once_and_stopped_by_its_last_holder() -> None:
    run = f"test-{uuid.uuid4().hex}"
    first, second = Process.of(os.getpid()), Process.of(os.getppid())

    cluster = acquire_shared_cluster(run, first)
    try:
        attached = acquire_shared_cluster(run, second)
        assert (attached.folder, attached.port) == (cluster.folder, cluster.port)
        pid = cluster.postmaster_pid()

        assert release_shared_cluster(cluster, first) is False
        assert attached.sql("SELECT 1") == [(1,)]
        assert release_shared_cluster(attached, second) is True
    finally:
        cluster.stop()
    assert not cluster.folder.exists()
    assert pid is not None and Process.of(pid).start is None


def test_a_cluster_whose_run_was_killed_is_swept() -> None:
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    dead_run = int(gone.stdout)  # a pytest process that is no more
    with private_cluster() as cluster:
        run_file = cluster.folder / RUN_FILE
        run_file.write_text(json.dumps({**json.loads(run_file.read_text()), "pid": dead_run}))
        pid = cluster.postmaster_pid()
        with _locked(BASE_DIR):
            assert cluster.folder in sweep()
        assert not cluster.folder.exists()
        assert pid is not None and Process.of(pid).start is None
