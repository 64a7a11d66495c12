"""Issue 30: the registry lease (one holder; taken over when the holder's connection dies; a holder that lost
it writes no replica), the nodes' table, the mode every node follows, the cluster's keys and
``konbini-ops cluster-init``."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from issuance_server.audit.trail import SYSTEM
from issuance_server.cluster import store
from issuance_server.cluster.keys import fingerprint, keys_problem
from issuance_server.cluster.lease import AdvisoryLease, Lease, SoleLease, lease_for
from issuance_server.cluster.nodes import NODE_STALE_S, NodeFollower, _adopt_mode, cluster_status
from issuance_server.cluster.store import LeaseLost
from issuance_server.modes.state import ModeState, switch_mode
from issuance_server.storage.migrate import latest_schema
from recovery.cli import cluster_lines
from recovery.cli import main as ops_main
from recovery.link import LINK
from tests.server.conftest import Env
from wire.clock import utc_now_iso


async def taken(lease: Lease, within_s: float = 5.0) -> bool:
    """Ask for the lease until it is this one's: PostgreSQL lets a lock go when the backend of the connection
    that held it has ended, a moment after that connection closed (a node asks every LEASE_TRY_S)."""
    for _ in range(int(within_s / 0.05)):
        if await lease.try_take():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_one_node_holds_the_lease_and_another_takes_it_when_the_holder_dies(env: Env) -> None:
    db, url = env.core.db, env.settings.database_url
    if not url:
        assert isinstance(lease_for(db, url, "n1", "i1"), SoleLease)
        pytest.skip("SQLite: one server owns the file and always holds the lease")
    await env.client.app[LINK].stop()  # the test's own server lets go of the lease
    first, second = AdvisoryLease(db, url, "node-a", "inc-a"), AdvisoryLease(db, url, "node-b", "inc-b")
    try:
        assert await taken(first) and first.held
        assert not await second.try_take() and not second.held
        assert await first.still_held()
        row = await db.read(store.lease)
        assert row is not None and row["holder"] == "node-a"
        await first.release()  # its connection closes, as when its process dies
        # PostgreSQL lets the lock go when that connection's backend has ended, a moment after the close: the
        # other node asks again (every LEASE_TRY_S in a node), as here.
        assert await taken(second)
        row = await db.read(store.lease)
        assert row is not None and row["holder"] == "node-b" and second.token == int(row["token"])
        assert first.token is None and second.token is not None
        stale = second.token - 1
        with pytest.raises(LeaseLost):  # the fencing token of the earlier holder no longer writes
            await db.write(lambda tx: store.check_fence(tx, stale))
        await db.write(second.fence)  # the holder's does
    finally:
        await first.release()
        await second.release()


async def test_a_holder_whose_connection_died_knows_it_lost_the_lease(env: Env) -> None:
    db, url = env.core.db, env.settings.database_url
    if not url:
        pytest.skip("PostgreSQL's advisory lease")
    await env.client.app[LINK].stop()
    lease = AdvisoryLease(db, url, "node-a", "inc-a")
    try:
        assert await taken(lease)
        lease._conn.close()  # the database dropped it (a restart, a network cut)
        assert not await lease.still_held() and lease.token is None
        with pytest.raises(LeaseLost):
            await db.write(lease.fence)
    finally:
        await lease.release()


async def test_a_mode_recorded_by_another_node_is_followed_and_an_older_one_is_not(env: Env) -> None:
    core = env.core
    await env.client.app[LINK].stop()  # this node's own link decides nothing meanwhile
    other = ModeState(core.mode_state.mode, core.mode_state.manual, core.mode_state.since, "")
    await switch_mode(
        core.db, core.secrets.audit_chain_key, other, "recovery", True, "by hand on node b", SYSTEM
    )
    await NodeFollower(core, core.node).follow_once()
    assert core.mode_state.mode == "recovery" and core.mode_state.manual
    stale = {"mode": "normal", "manual": 0, "since": "2000-01-01T00:00:00Z", "reason": "old"}
    assert not _adopt_mode(core, stale) and core.mode_state.mode == "recovery"
    # A switch a moment after one written without milliseconds (a first start's) is still the later one.
    core.mode_state.since = "2030-01-01T00:00:00Z"
    later = {"mode": "normal", "manual": 0, "since": "2030-01-01T00:00:00.001Z", "reason": "back"}
    assert _adopt_mode(core, later) and core.mode_state.mode == "normal"


async def test_nodes_are_listed_with_the_lease_holder_and_dead_ones_marked(env: Env) -> None:
    core = env.core
    await NodeFollower(core, core.node, now=lambda: 1000.0).seen()
    await core.db.write(
        lambda tx: store.seen(tx, "gone", "inc-gone", 1.0, 1000.0 - NODE_STALE_S - 1, False, None, 19)
    )
    await core.db.write(lambda tx: store.take_lease(tx, core.node.name, core.node.incarnation, utc_now_iso()))
    status = await core.db.read(lambda tx: cluster_status(tx, 1000.5))
    by_name = {n["node"]: n for n in status["nodes"]}
    assert by_name[core.node.name]["alive"] and by_name[core.node.name]["holds_lease"]
    assert not by_name["gone"]["alive"] and not by_name["gone"]["holds_lease"]
    assert status["lease"]["holder"] == core.node.name
    printed = cluster_lines(status)  # as konbini-ops status prints them
    assert printed[0].startswith(f"registry lease  {core.node.name} (token ")
    assert any(
        line.endswith(f"lease holder, schema {latest_schema()}") and core.node.name in line
        for line in printed
    )
    assert any("gone: not seen for" in line for line in printed)


async def test_a_node_with_other_keys_is_refused_and_one_with_the_same_keys_is_not(
    env: Env, tmp_path: Path
) -> None:
    mine = fingerprint(env.settings.secrets_dir, env.settings.tls_dir)
    assert await env.core.db.write(lambda tx: keys_problem(tx, mine)) is None  # the first records it
    assert await env.core.db.write(lambda tx: keys_problem(tx, mine)) is None
    other = fingerprint(tmp_path / "secrets", tmp_path / "tls")
    problem = await env.core.db.write(lambda tx: keys_problem(tx, other))
    assert problem is not None and "cluster-init" in problem and mine[:12] in problem


def test_cluster_init_makes_the_shared_keys_once_into_a_new_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "keys"
    assert ops_main(["cluster-init", "--out", str(out)]) == 0
    said = capsys.readouterr().out
    for name in ("secrets/pin-pepper", "secrets/issuing-ed25519.pem", "secrets/totp-key", "tls/kiosk-ca.key"):
        path = out / name
        assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600, name
    assert not (out / "tls" / "server.key").exists()  # each node makes its own
    assert fingerprint(out / "secrets", out / "tls")[:12] in said
    assert ops_main(["cluster-init", "--out", str(out)]) == 2  # never over existing keys
    assert "not empty" in capsys.readouterr().err


def test_a_node_whose_keys_are_not_the_clusters_refuses_to_start_in_one_line(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    if not database_url:
        pytest.skip("one server owns a SQLite file: no cluster")
    from issuance_server.__main__ import main as server_main
    from issuance_server.storage.postgres import connect, in_write_transaction

    with connect(database_url) as conn:  # another node started first, with keys of its own
        in_write_transaction(conn, lambda tx: keys_problem(tx, "f" * 32), None)
    monkeypatch.setenv("KONBINI_DATABASE_URL", database_url)
    monkeypatch.setenv("KONBINI_REGISTRY_LINK", "false")
    assert server_main(["--data-dir", str(tmp_path / "node")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not the cluster's" in err[0] and "ffffffffffff" in err[0]
