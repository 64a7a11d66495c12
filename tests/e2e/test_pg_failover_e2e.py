"""docs/deploy.md's standby procedure, run (issue 30): a streaming standby made with ``pg_basebackup -R``, the
primary stopped, the standby promoted; the server, whose ``database_url`` names both with
``target_session_attrs=read-write``, reconnects by itself, takes the registry lease on the new primary and
serves kiosks again; what was committed before is there."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from konbini_demo.postgres_cluster import BASE_DIR, PostgresCluster, private_cluster
from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack
from tests.e2e.stacks import FAST_LINK, demo_kiosk, running_stack, wait_for
from wire.http_json import HttpError

pytestmark = pytest.mark.e2e


@pytest.fixture
def primary() -> Iterator[PostgresCluster]:
    with private_cluster() as own:
        own.create_database("konbini")
        yield own


@pytest.fixture
def standby(primary: PostgresCluster) -> Iterator[PostgresCluster]:
    folder = Path(tempfile.mkdtemp(prefix="sb-", dir=BASE_DIR))  # short: a unix socket's path is bounded
    folder.rmdir()
    own = PostgresCluster()
    try:
        own.start_standby(primary, folder)
        yield own
    finally:
        own.stop()
        shutil.rmtree(folder, ignore_errors=True)


def both(primary: PostgresCluster, standby: PostgresCluster) -> str:
    """The server's ``database_url`` naming both clusters; libpq connects to whichever accepts writes."""
    hosts = ",".join(quote(str(c.socket_dir), safe="/") for c in (primary, standby))
    return (
        f"postgresql://postgres@/konbini?host={hosts}&port={primary.port},{standby.port}"
        "&target_session_attrs=read-write"
    )


def issued(cluster: PostgresCluster) -> set[str]:
    return {row[0] for row in cluster.sql("SELECT serial FROM issuances", dbname="konbini")}


def caught_up(primary: PostgresCluster, standby: PostgresCluster) -> bool:
    [(sent,)] = primary.sql("SELECT pg_current_wal_lsn()::text")
    [(replayed,)] = standby.sql("SELECT pg_last_wal_replay_lsn()::text")
    return bool(sent == replayed)


def session_ok(kiosk: SoftKiosk) -> str | None:
    result = kiosk.session()
    return str(result["serial"]) if "serial" in result else None


def test_a_promoted_standby_serves_the_server_again_with_what_was_committed(
    primary: PostgresCluster, standby: PostgresCluster, tmp_path: Path
) -> None:
    settings = {"KONBINI_DATABASE_URL": both(primary, standby), **FAST_LINK}
    with running_stack(tmp_path / "stack", residents=200, server_settings=settings) as stack:
        kiosk = demo_kiosk(stack)
        before = session_ok(kiosk)
        assert before is not None and before in issued(primary)
        wait_for("the standby to replay everything", lambda: caught_up(primary, standby), 30)
        assert before in issued(standby)  # streamed

        primary.halt()  # the primary fails (and stays down: fenced)
        standby.promote()
        after = wait_for(
            "a kiosk session on the promoted standby", lambda: session_ok(kiosk), 60, ignoring=(HttpError,)
        )
        assert after != before and {before, after} <= issued(standby)
        status = holds_lease(stack)
        assert status, "the server took the registry lease again on the new primary"


def holds_lease(stack: Stack) -> bool:
    return bool(wait_for("the registry lease", lambda: stack.ops_status()["link"]["lease_held"] or None, 30))
