"""The cluster's tables (``cluster_lease``, ``cluster_nodes``): the one place their SQL lives."""

from __future__ import annotations

from typing import Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("cluster_lease", "cluster_nodes", "cluster_keys")

# On the registry lease's own PostgreSQL connection (not a trip): take the advisory lock if free; whether
# this connection holds it.
TRY_LEASE_SQL: Final = "SELECT pg_try_advisory_lock(%s)"
LEASE_HELD_SQL: Final = "SELECT 1"  # a session lock ends only with its session: a live connection holds it


class LeaseLost(Exception):
    """This node's fencing token is no longer the lease's: another node follows the registry now."""


def take_lease(tx: Tx, holder: str, incarnation: str, since: str) -> int:
    """Name ``holder`` the lease's holder with a new fencing token (one more than any before); the token."""
    tx.execute(
        "UPDATE cluster_lease SET token = token + 1, holder = ?, incarnation = ?, since = ? WHERE id = 1",
        (holder, incarnation, since),
    )
    return int(tx.value("SELECT token FROM cluster_lease WHERE id = 1"))


def check_fence(tx: Tx, token: int) -> None:
    """In a transaction that writes the replica: refuse unless ``token`` is still the lease's."""
    current = tx.value("SELECT token FROM cluster_lease WHERE id = 1")
    if current != token:
        raise LeaseLost(f"the registry lease moved (token {token}, now {current})")


def note_link(tx: Tx, token: int, confirmed_at: str | None, registry_seq: int | None) -> None:
    """The holder's last confirmation, for the other nodes' certificates and status."""
    tx.execute(
        "UPDATE cluster_lease SET confirmed_at = ?, registry_seq = ? WHERE id = 1 AND token = ?",
        (confirmed_at, registry_seq, token),
    )


def lease(tx: Tx) -> Row | None:
    return tx.one(
        "SELECT token, holder, incarnation, since, confirmed_at, registry_seq FROM cluster_lease WHERE id = 1"
    )


def seen(
    tx: Tx, node: str, incarnation: str, started_at: float, now: float, draining: bool,
    generation: str | None, schema: int,
) -> None:  # fmt: skip
    tx.execute(
        "INSERT INTO cluster_nodes (node, incarnation, started_at, seen_at, draining, generation, schema)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (node) DO UPDATE SET incarnation = excluded.incarnation,"
        " started_at = excluded.started_at, seen_at = excluded.seen_at, draining = excluded.draining,"
        " generation = excluded.generation, schema = excluded.schema",
        (node, incarnation, started_at, now, int(draining), generation, schema),
    )


def known(tx: Tx, node: str) -> bool:
    """Whether ``node`` ran on this database before."""
    return tx.one("SELECT 1 AS known FROM cluster_nodes WHERE node = ?", (node,)) is not None


def nodes(tx: Tx) -> list[Row]:
    return tx.all(
        "SELECT node, incarnation, started_at, seen_at, draining, generation, schema FROM cluster_nodes"
        " ORDER BY node"
    )


def incarnation_alive(tx: Tx, incarnation: str, seen_after: float) -> bool:
    """Whether the node incarnation ``incarnation`` is still the one running and was seen lately."""
    return (
        tx.one(
            "SELECT 1 AS alive FROM cluster_nodes WHERE incarnation = ? AND seen_at > ?",
            (incarnation, seen_after),
        )
        is not None
    )


def generations_in_use(tx: Tx, seen_after: float) -> set[str]:
    """The replica generations that nodes seen lately read."""
    rows = tx.all(
        "SELECT DISTINCT generation FROM cluster_nodes WHERE seen_at > ? AND generation IS NOT NULL",
        (seen_after,),
    )
    return {r["generation"] for r in rows}


def forget(tx: Tx, node: str) -> int:
    """Remove a node's row (a node taken out for good); how many rows."""
    return tx.execute("DELETE FROM cluster_nodes WHERE node = ?", (node,))


def record_keys(tx: Tx, fingerprint: str) -> str:
    """Record ``fingerprint`` as the cluster's keys' if none is yet; the cluster's."""
    tx.execute(
        "INSERT INTO cluster_keys (id, fingerprint) VALUES (1, ?) ON CONFLICT (id) DO NOTHING", (fingerprint,)
    )
    return str(tx.value("SELECT fingerprint FROM cluster_keys WHERE id = 1"))
