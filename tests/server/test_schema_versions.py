"""Expand/contract migrations on PostgreSQL: a server whose code knows schema N runs on a database at N or
N+1 (a node upgraded before the others), and refuses anything else at start with one line saying which
schema it needs; ``konbini-ops migrate`` brings a database to N."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from issuance_server.settings import load_settings
from issuance_server.storage.engines import check_postgres, migrate
from issuance_server.storage.migrate import latest_schema, schema_problem
from konbini_demo.postgres_cluster import PostgresCluster, fresh_database
from recovery.cli import main as ops_main
from wire.settings import SettingsError

N = latest_schema()


@pytest.mark.parametrize(
    ("database", "runs"), [(None, False), (N - 1, False), (N, True), (N + 1, True), (N + 2, False)]
)
def test_a_server_of_schema_n_runs_on_a_database_at_n_or_the_next(database: int | None, runs: bool) -> None:
    assert (schema_problem(database, N) is None) == runs


def test_the_schema_check_at_start_and_konbini_ops_migrate(
    postgres_cluster: PostgresCluster,
    postgres_database_name: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = fresh_database(postgres_cluster, f"{postgres_database_name}_schemas")
    settings = load_settings(env={}, data_dir=tmp_path / "var", database_url=url)
    with pytest.raises(
        SettingsError, match=rf"has no schema: this server needs schema {N} \(run konbini-ops migrate\)"
    ):
        check_postgres(settings)
    monkeypatch.setenv("KONBINI_DATABASE_URL", url)
    assert ops_main(["--data-dir", str(tmp_path / "var"), "migrate"]) == 0
    said = capsys.readouterr().out
    assert said.startswith("migrate (postgresql): applied 0017_baseline.sql")  # PostgreSQL joined at 17
    assert said.endswith(f"; the database is at schema {N}\n")
    assert migrate(settings) == ("postgresql", [], N)  # again: nothing to apply
    check_postgres(settings)  # at N: runs
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 'a node upgraded first')", (N + 1,))
    check_postgres(settings)  # at N+1: still runs
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("INSERT INTO schema_migrations VALUES (%s, 'two ahead')", (N + 2,))
    with pytest.raises(SettingsError, match=rf"at schema {N + 2}, this server needs schema {N} or {N + 1}"):
        check_postgres(settings)
    postgres_cluster.drop_database(f"{postgres_database_name}_schemas")
