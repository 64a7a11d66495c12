"""This node among the others on one database: its row in ``cluster_nodes``, seen every second, and what it
follows of the shared state (the mode, and on PostgreSQL the replica generation) every second.

A node's incarnation is new at every start, so a claim of a node that restarted is known to be dead at once.
A replica generation replaced by a full sync is dropped once no live node reads it any more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any, Final

from issuance_server.cluster import store
from issuance_server.cluster.identity import NodeIdentity
from issuance_server.core import ServerCore
from issuance_server.modes import store as mode_store
from issuance_server.replica import store as replica_store
from issuance_server.storage.engine import DatabaseUnavailable, Tx
from issuance_server.storage.migrate import latest_schema

log = logging.getLogger("konbini.cluster")

FOLLOW_S: Final = 1.0  # how often a node reads the shared mode and replica generation
SEEN_EVERY_S: Final = 1.0  # how often a node writes that it is alive (at most: once a FOLLOW_S)
NODE_STALE_S: Final = 3.0  # a node not seen for this long is dead (its claims are taken over)
DROP_WAIT_S: Final = 600.0  # a replaced generation still read by a live node is dropped after this anyway


def _moment(since: str) -> datetime:
    """When a mode was set (its ``since``, ISO 8601 with or without milliseconds; unreadable: long ago)."""
    try:
        return datetime.fromisoformat(since.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return datetime.min.replace(tzinfo=UTC)


def _adopt_mode(core: ServerCore, row: Any) -> bool:
    """Take the mode another node recorded, unless this node's own is newer; whether it changed."""
    state = core.mode_state
    if row is None or _moment(row["since"]) <= _moment(state.since):
        return False
    found = (row["mode"], bool(row["manual"]), row["since"], row["reason"])
    if found == (state.mode, state.manual, state.since, state.reason):
        return False
    previous = state.mode
    state.mode, state.manual, state.since, state.reason = found
    if previous != state.mode:
        log.info("mode %s -> %s (recorded by another node)", previous, state.mode)
    return True


def _shared(tx: Tx) -> tuple[Any, str | None]:
    return mode_store.load(tx), replica_store.replica_file(tx)


class NodeFollower:
    """The background work of :mod:`this module <issuance_server.cluster.nodes>` for one node."""

    def __init__(
        self, core: ServerCore, identity: NodeIdentity, now: Callable[[], float] = time.time
    ) -> None:
        self.core = core
        self.identity = identity
        self._now = now
        self._last_seen = 0.0
        self._schema = latest_schema()

    async def follow_once(self) -> None:
        core = self.core
        mode_row, generation = await core.db.read(_shared)
        _adopt_mode(core, mode_row)
        if core.db.kind == "postgresql" and generation and generation != core.replica.attached:
            await core.replica.attach_current()
            log.info("replica generation %s (switched by the lease holder)", core.replica.attached)
        now = self._now()
        if now - self._last_seen >= SEEN_EVERY_S:
            await self.seen(now)

    async def seen(self, now: float | None = None) -> None:
        now = self._now() if now is None else now
        ident = self.identity
        await self.core.db.write(
            partial(
                store.seen,
                node=ident.name,
                incarnation=ident.incarnation,
                started_at=ident.started_at,
                now=now,
                draining=self.core.draining,
                generation=self.core.replica.attached,
                schema=self._schema,
            )
        )
        self._last_seen = now

    async def run(self) -> None:
        while True:
            try:
                await self.follow_once()
            except asyncio.CancelledError:
                raise
            except DatabaseUnavailable as exc:
                log.warning("the node waits for the database: %s", exc)
                await asyncio.sleep(1.0)
            except Exception:  # keep following; say what went wrong
                log.exception("following the cluster failed")
            await asyncio.sleep(FOLLOW_S)


async def remove_when_unread(core: ServerCore, name: str, now: Callable[[], float] = time.time) -> None:
    """Remove the replaced generation ``name``: at once on SQLite (one node), on PostgreSQL once no live
    node reports reading it (or after ``DROP_WAIT_S``, with a warning)."""
    if core.db.kind == "postgresql":
        waited = 0.0
        while waited < DROP_WAIT_S:
            in_use = await core.db.read(partial(store.generations_in_use, seen_after=now() - NODE_STALE_S))
            if name not in in_use:
                break
            await asyncio.sleep(FOLLOW_S)
            waited += FOLLOW_S
        else:
            log.warning("replica generation %s is still read by a node after %.0f s: dropped", name, waited)
    await asyncio.to_thread(core.replica.remove_generation, name)


def runs_still(now: float) -> Callable[[Tx, str], bool]:
    """Whether a node incarnation still runs at ``now``: seen within ``NODE_STALE_S`` and not restarted."""
    return lambda tx, incarnation: store.incarnation_alive(tx, incarnation, now - NODE_STALE_S)


def cluster_status(tx: Tx, now: float) -> dict[str, Any]:
    """The lease and every node as ``konbini-ops status`` shows them."""
    lease = store.lease(tx)
    return {
        "lease": None
        if lease is None
        else {
            "holder": lease["holder"],
            "token": int(lease["token"]),
            "since": lease["since"],
            "confirmed_at": lease["confirmed_at"],
            "registry_seq": lease["registry_seq"],
        },
        "nodes": [
            {
                "node": r["node"],
                "alive": now - float(r["seen_at"]) < NODE_STALE_S,
                "seen_s_ago": round(now - float(r["seen_at"]), 1),
                "draining": bool(r["draining"]),
                "generation": r["generation"],
                "schema": int(r["schema"]),
                "holds_lease": lease is not None and r["incarnation"] == lease["incarnation"],
            }
            for r in store.nodes(tx)
        ],
    }
