"""The server on PostgreSQL across the real parts: a cluster of this module's own (its tests stop it),
registry_sim, the server and the kiosk CLI over pcscd + vpcd as processes. A resident's certificate, the
registry's failover and return, and PostgreSQL down at start, gone while serving and back again."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
import pytest

from konbini_demo.postgres_cluster import PostgresCluster, private_cluster
from konbini_demo.processes import ServiceError
from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.stacks import FAST_LINK, demo_kiosk, registered_card, running_stack, wait_for
from wire.http_client import HttpError

pytestmark = pytest.mark.e2e
TRANSIENT = (HttpError, ServiceError)  # a server or command that does not answer yet
PIN = "1357"


@pytest.fixture(scope="module")
def cluster() -> Iterator[PostgresCluster]:
    with private_cluster() as own:
        own.create_database("konbini")
        yield own


@pytest.fixture(scope="module")
def stack(cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {"KONBINI_DATABASE_URL": cluster.url("konbini"), **FAST_LINK}
    with running_stack(
        tmp_path_factory.mktemp("pg"), residents=300, server_settings=settings, cards=True
    ) as s:
        yield s


@pytest.fixture(scope="module")
def kiosk(stack: Stack) -> SoftKiosk:
    return demo_kiosk(stack)


def rows(cluster: PostgresCluster, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(cluster.url("konbini")) as conn:
        return conn.execute(sql, params).fetchall()


def health(stack: Stack) -> tuple[int, dict[str, Any]]:
    """``/healthz``'s status and body (it answers 503 while the database is gone)."""
    context = ssl.create_default_context(cafile=str(stack.server_ca))
    try:
        with urllib.request.urlopen(f"{stack.server_url}/healthz", context=context, timeout=10) as resp:
            return int(resp.status), dict(json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return exc.code, dict(json.loads(exc.read()))


def mode(stack: Stack) -> str:
    return str(stack.ops_status()["mode"]["mode"])


def test_a_resident_gets_a_certificate_whose_issuance_is_a_row_in_postgresql(
    stack: Stack, cluster: PostgresCluster, tmp_path: Path
) -> None:
    registered_card(stack, PIN)
    try:
        result = stack.kiosk_session(PIN, tmp_path)
    finally:
        stack.remove_card()
    assert result.returncode == 0, result.stderr
    [(serial, pdf)] = stack.printed(result)
    verdict = stack.verify(pdf)
    assert verdict.returncode == 0 and verdict.stdout.startswith("VALID"), verdict.stdout + verdict.stderr
    assert rows(cluster, "SELECT kind, status FROM issuances WHERE serial = %s", serial) == [
        ("juminhyo", "printed")
    ]
    [(generation,)] = rows(cluster, "SELECT replica_file FROM sync_state")
    assert generation.startswith("replica_")  # the replica is a schema of the same database


def test_registry_killed_fails_over_keeps_issuing_and_comes_back_on_postgresql(
    stack: Stack, kiosk: SoftKiosk
) -> None:
    assert "serial" in kiosk.session()
    stack.kill("registry_sim")
    try:
        assert "serial" in kiosk.session()  # the probe fails: failover at once, the session is not lost
        wait_for("recovery mode", lambda: mode(stack) == "recovery", 20, ignoring=TRANSIENT)
        assert "serial" in kiosk.session()
    finally:
        stack.restart_registry()
    wait_for("normal mode after catch-up", lambda: mode(stack) == "normal", 30, ignoring=TRANSIENT)
    assert "serial" in kiosk.session()


def test_postgresql_gone_while_serving_is_service_unavailable_and_the_server_resumes_by_itself(
    stack: Stack, cluster: PostgresCluster, kiosk: SoftKiosk
) -> None:
    assert "serial" in kiosk.session()
    issued_before = rows(cluster, "SELECT count(*) FROM issuances")[0][0]
    cluster.halt()
    try:
        status, body = health(stack)
        assert (status, body.get("status"), body.get("database")) == (503, "unavailable", "unreachable")
        with pytest.raises(HttpError) as refused:
            kiosk.session()
        assert (refused.value.status, refused.value.code) == (503, "service_unavailable")
    finally:
        cluster.resume()
    wait_for("the server to reach PostgreSQL again", lambda: health(stack)[0] == 200, 20, ignoring=TRANSIENT)
    assert "serial" in kiosk.session()
    assert rows(cluster, "SELECT count(*) FROM issuances")[0][0] == issued_before + 1  # nothing half-issued
    log = (stack.logs / "server.log").read_text(encoding="utf-8", errors="replace")
    assert "Traceback" not in log


def test_postgresql_down_at_start_stops_the_server_with_one_line_and_status_2(
    stack: Stack, cluster: PostgresCluster, tmp_path: Path
) -> None:
    env = {**stack.server_env(), "KONBINI_DATA_DIR": str(tmp_path / "var")}  # it stops before binding
    cluster.halt()
    try:
        down = subprocess.run(
            [sys.executable, "-m", "issuance_server"], env=env, capture_output=True, text=True, timeout=60
        )
    finally:
        cluster.resume()
    assert down.returncode == 2, down.stderr
    lines = down.stderr.strip().splitlines()
    assert (
        len(lines) == 1
        and lines[0].startswith("konbini-server: database_url (")
        and "cannot connect" in lines[0]
    )
    wrong = {**env, "KONBINI_DATABASE_URL": cluster.tcp_url("konbini", user="nobody", password="wrong")}
    refused = subprocess.run(
        [sys.executable, "-m", "issuance_server"], env=wrong, capture_output=True, text=True
    )
    assert refused.returncode == 2 and "wrong" not in refused.stderr  # the password is never shown
    assert "database_url (postgresql://nobody:***@" in refused.stderr, refused.stderr


def test_a_damaged_replica_is_found_by_the_check_and_repaired_by_a_resync_on_postgresql(
    stack: Stack, cluster: PostgresCluster
) -> None:
    [(generation,)] = rows(cluster, "SELECT replica_file FROM sync_state")
    with psycopg.connect(cluster.url("konbini"), autocommit=True) as conn:  # damage behind the server's back
        conn.execute(
            psycopg.sql.SQL(
                "DELETE FROM {0}.seal WHERE seal_no = (SELECT min(seal_no) FROM {0}.seal)"
            ).format(psycopg.sql.Identifier(generation))
        )
    found = stack.ops("check", check=False)
    assert found.returncode == 1 and "MISMATCH" in found.stdout and "seal" in found.stdout
    repaired = stack.ops("check", "--repair", check=False)
    assert repaired.returncode == 0 and "repaired" in repaired.stdout, repaired.stdout + repaired.stderr
    assert "consistent" in stack.ops("check").stdout

    # The damaged one is dropped once no node reads it (this node says so within a second).
    def one_generation() -> list[tuple[Any, ...]] | None:
        found = rows(cluster, "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", "replica\\_%")
        return found if len(found) == 1 else None

    generations = wait_for("the damaged generation dropped", one_generation, 10)
    assert generations[0][0] != generation


def test_reconcile_reports_what_changed_upstream_after_a_recovery_issuance_on_postgresql(
    stack: Stack, kiosk: SoftKiosk, tmp_path: Path
) -> None:
    stack.ops("mode", "recovery", "--reason", "test: registry maintenance")
    try:
        issued = kiosk.session()
        assert "serial" in issued
        person = dict(stack.registry().call("GET", f"/records/resident/{DEMO_ATENA_NO}"))
        change = {"op": "upsert", "record": {**person, "kyuuji": "鹿児島", "version": person["version"] + 1}}
        stack.registry().call("POST", "/control/apply", {"changes": [change]})
    finally:
        stack.ops("mode", "normal")
    wait_for("catch-up", lambda: "kyuuji" in stack.ops("reconcile").stdout, 30, ignoring=TRANSIENT)
    report = stack.ops("reconcile", "--csv", str(tmp_path / "reconcile.csv"))
    assert issued["serial"] in report.stdout and issued["serial"] in (tmp_path / "reconcile.csv").read_text()
