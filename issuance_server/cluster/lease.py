"""The registry lease: which node follows the registry (feed, version probes, breaker, mode decisions).

On PostgreSQL the lease is a session advisory lock held on a connection of the lease's own (not one of the
pool): when the holder dies its connection closes and PostgreSQL releases the lock, and the next node that
asks takes it. Each taking writes a new fencing token to ``cluster_lease``; every transaction that writes
the replica checks it (:meth:`Lease.fence`), so a holder that lost its connection without knowing writes
nothing. On SQLite one server owns the file, so it always holds the lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from functools import partial
from typing import Any, Final, Protocol

from issuance_server.cluster import store
from issuance_server.cluster.store import LeaseLost
from issuance_server.storage.engine import Engine, Tx
from wire.clock import utc_now_iso

log = logging.getLogger("konbini.cluster")

LEASE_LOCK: Final = 0x6B6F6E6C  # 'konl': the registry lease's advisory lock
CHECK_TIMEOUT_S: Final = 2.0  # a lease connection that does not answer a check within this is lost
# Server-side keep-alives on the lease connection: a holder whose machine vanished (no FIN) frees the
# lease within about idle + interval x count seconds.
_KEEPALIVES: Final = "-c tcp_keepalives_idle=2 -c tcp_keepalives_interval=1 -c tcp_keepalives_count=2"


class Lease(Protocol):
    node: str
    incarnation: str
    token: int | None  # this node's fencing token while it holds the lease

    @property
    def held(self) -> bool: ...

    async def try_take(self) -> bool:
        """Take the lease if nobody holds it; whether this node holds it now."""
        ...

    async def still_held(self) -> bool:
        """Check the lease is still this node's (False: lost, and :attr:`token` cleared)."""
        ...

    async def release(self) -> None: ...

    def fence(self, tx: Tx) -> None:
        """In a transaction writing the replica: raise ``LeaseLost`` unless this node holds the lease."""
        ...


class _TokenLease:
    def __init__(self, db: Engine, node: str, incarnation: str) -> None:
        self._db = db
        self.node = node
        self.incarnation = incarnation
        self.token: int | None = None

    @property
    def held(self) -> bool:
        return self.token is not None

    async def _write_token(self) -> None:
        self.token = await self._db.write(
            partial(store.take_lease, holder=self.node, incarnation=self.incarnation, since=utc_now_iso())
        )
        log.info("this node (%s) holds the registry lease, token %d", self.node, self.token)

    def fence(self, tx: Tx) -> None:
        if self.token is None:
            raise LeaseLost(f"node {self.node} does not hold the registry lease")
        store.check_fence(tx, self.token)


class SoleLease(_TokenLease):
    """SQLite: the one server on the file holds the lease from its start (its fence never refuses)."""

    @property
    def held(self) -> bool:
        return True

    def fence(self, tx: Tx) -> None:
        return None

    async def try_take(self) -> bool:
        if self.token is None:
            await self._write_token()
        return True

    async def still_held(self) -> bool:
        return True

    async def release(self) -> None:
        return None


class AdvisoryLease(_TokenLease):
    """PostgreSQL: a session advisory lock on a dedicated connection (see the module's docstring)."""

    def __init__(self, db: Engine, url: str, node: str, incarnation: str) -> None:
        super().__init__(db, node, incarnation)
        self._url = url
        self._conn: Any = None  # psycopg.Connection, opened on the first try

    def _try_lock(self) -> bool:
        import psycopg

        from issuance_server.storage.postgres import CONNECT_TIMEOUT_S

        if self._conn is None or self._conn.closed:
            self._conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S, options=_KEEPALIVES,
                keepalives=1, keepalives_idle=2, keepalives_interval=1, keepalives_count=2,
                application_name=f"konbini-lease {self.node}",
            )  # fmt: skip
        row = self._conn.execute(store.TRY_LEASE_SQL, (LEASE_LOCK,)).fetchone()
        return bool(row and row[0])

    def _check(self) -> bool:
        row = self._conn.execute(store.LEASE_HELD_SQL).fetchone()
        return bool(row and row[0])

    def _close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None

    async def try_take(self) -> bool:
        if self.token is not None:
            return True
        try:
            locked = await asyncio.wait_for(asyncio.to_thread(self._try_lock), CHECK_TIMEOUT_S * 2)
        except Exception as exc:
            log.debug("the registry lease cannot be asked for: %s", type(exc).__name__)
            await asyncio.to_thread(self._close)
            return False
        if not locked:
            return False
        try:
            await self._write_token()
        except Exception:
            await asyncio.to_thread(self._close)  # the lock goes with the connection
            raise
        return True

    async def still_held(self) -> bool:
        if self.token is None:
            return False
        try:
            held = await asyncio.wait_for(asyncio.to_thread(self._check), CHECK_TIMEOUT_S)
        except Exception as exc:
            log.warning(
                "the registry lease's connection failed (%s): this node stops following", type(exc).__name__
            )
            held = False
        if not held:
            self.token = None
            conn, self._conn = self._conn, None  # closed aside: a hung connection must not hold this up
            if conn is not None:
                asyncio.get_running_loop().run_in_executor(None, conn.close)
        return held

    async def release(self) -> None:
        self.token = None
        await asyncio.to_thread(self._close)


def lease_for(db: Engine, url: str, node: str, incarnation: str) -> Lease:
    """The lease of ``db``'s engine (``url``: PostgreSQL's, empty for SQLite)."""
    if db.kind == "postgresql":
        return AdvisoryLease(db, url, node, incarnation)
    return SoleLease(db, node, incarnation)
