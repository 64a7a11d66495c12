"""Three server nodes on PostgreSQL behind HAProxy, across the real parts (issue 30), one stack for the module:
under load from four kiosk identities a node is SIGKILLed, then the registry lease holder, then every node is
restarted in turn (drained first) and the registry goes away and comes back. Kiosks see no failed session
(steps whose answer was lost are tried again), every printed page is the session's resident's, no serial twice,
no payment charged twice, the audit chain verifies, and the lease moved. PostgreSQL and HAProxy are single
processes here."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from konbini_demo.postgres_cluster import private_cluster
from konbini_demo.scale_demo import ScaleCluster, wait_for
from tests.e2e.stacks import FAST_LINK

pytestmark = pytest.mark.e2e
PHASE_S = 2.0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ScaleCluster]:
    with private_cluster() as pg:
        pg.create_database("konbini")
        scale = ScaleCluster(tmp_path_factory.mktemp("nodes"), pg.url("konbini"), 3, 150, FAST_LINK)
        try:
            scale.start()
            yield scale
        finally:
            scale.stop()


def test_killing_a_node_and_the_lease_holder_under_load_fails_no_session(cluster: ScaleCluster) -> None:
    moved: list[float] = []
    first_holder = cluster.nodes.holder(cluster.alive)

    def kills() -> None:
        moved.append(cluster.kill_a_node_then_the_holder(PHASE_S))

    tally = cluster.load(kills)
    books = cluster.books(tally)
    assert not tally.failed, tally.failed[:5]
    assert len(tally.printed) > 10 and books.clean, books
    assert moved and cluster.nodes.holder(cluster.alive) != first_holder  # the lease moved
    status = cluster.nodes.status(cluster.alive[0])
    alive = [n["node"] for n in status["cluster"]["nodes"] if n["alive"]]
    assert len(alive) == 3 and status["cluster"]["lease"]["holder"] in alive


def test_a_rolling_restart_under_load_fails_no_session(cluster: ScaleCluster) -> None:
    tally = cluster.load(lambda: cluster.rolling_restart(0.2))
    books = cluster.books(tally)
    assert not tally.failed, tally.failed[:5]
    assert tally.printed and books.clean, books
    incarnations = {
        n["node"] for n in cluster.nodes.status(cluster.alive[0])["cluster"]["nodes"] if n["alive"]
    }
    assert len(incarnations) == 3


def test_every_node_switches_to_recovery_with_the_registry_and_back(cluster: ScaleCluster) -> None:
    def modes() -> set[str]:
        return {str(cluster.nodes.status(i)["mode"]["mode"]) for i in cluster.alive}

    def outage() -> None:
        time.sleep(0.5)
        cluster.stack.kill("registry_sim")
        wait_for("every node in recovery", lambda: modes() == {"recovery"}, 20)
        time.sleep(PHASE_S)  # kiosks issue from the replica meanwhile
        cluster.stack.restart_registry()
        wait_for("every node back to normal", lambda: modes() == {"normal"}, 30)
        time.sleep(1.0)

    tally = cluster.load(outage)
    books = cluster.books(tally)
    assert not tally.failed, tally.failed[:5]
    assert tally.printed and books.clean, books
