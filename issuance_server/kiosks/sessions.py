"""Kiosk sessions in the database: id, single-use nonce, idle timeout, who authenticated.

Nothing of a session is in a server's memory, so any node serves any step and a restart ends no session
(issue 30). A step reads its session (one read trip), and writes its last sight only when that is
``TOUCH_EVERY_S`` old, so the idle timeout counts from up to that long before the last step; the nonce is
spent with a conditional update, so it is used once whichever node is asked. Expiry uses the nodes'
steady clocks (:func:`wire.clock.steady_time`: the wall clock at the node's start, advanced by the
monotonic clock): seconds of skew between nodes against minutes of idle timeout, and no effect of a step of
the wall clock during sessions.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Callable
from typing import Final

from issuance_server.api_errors import ApiError
from issuance_server.kiosks import store
from issuance_server.kiosks.store import KioskSession
from issuance_server.storage.engine import Engine, Tx
from wire.clock import steady_time
from wire.kiosk_api import ErrorCode

__all__ = ["KioskSession", "SessionStore"]

RATE_WINDOW_S: Final = 60.0  # the per-kiosk opening limit counts this many seconds
TOUCH_EVERY_S: Final = 15.0  # a session's last sight is written when a step comes this long after it


class SessionStore:
    def __init__(
        self,
        db: Engine,
        nonce_ttl_s: float,
        idle_s: float,
        max_open: int = 4,
        opens_per_minute: int = 30,
        now: Callable[[], float] = steady_time,
    ) -> None:
        self.db = db
        self.nonce_ttl_s = nonce_ttl_s
        self.idle_s = idle_s
        self.max_open = max_open
        self.opens_per_minute = opens_per_minute
        self.now = now
        self.open_count = 0  # as last counted (metrics, status): see count_open

    async def open(
        self, kiosk_id: str, record: Callable[[Tx, str], None], request_id: str | None = None
    ) -> KioskSession:
        """A new session, within the kiosk's limits: ``max_open`` live at once and ``opens_per_minute``;
        ``record(tx, session_id)`` writes its audit row in the same transaction. An opening ``request_id``
        made before (its answer was lost) gets the session it made, while that session is live."""
        now = self.now()
        session_id, nonce = secrets.token_urlsafe(18), secrets.token_urlsafe(32)  # 256-bit nonce

        def opening(tx: Tx) -> tuple[list[float], int] | KioskSession:
            if request_id is not None:
                made = store.opened_by_request(tx, kiosk_id, request_id)
                if made is not None and not made.ended and now - made.last_seen_at <= self.idle_s:
                    return made
            recent = store.opened_since(tx, kiosk_id, now - RATE_WINDOW_S)
            live = store.live_count(tx, kiosk_id, now - self.idle_s)
            if len(recent) < self.opens_per_minute and live < self.max_open:
                store.insert(tx, session_id, kiosk_id, nonce, now + self.nonce_ttl_s, now, request_id)
                record(tx, session_id)
            return recent, live

        opened = await self.db.write(opening)
        if isinstance(opened, KioskSession):
            return opened
        recent, live = opened
        if len(recent) >= self.opens_per_minute:
            raise ApiError(
                429,
                ErrorCode.SESSION_RATE_LIMITED,
                f"this kiosk opened {len(recent)} sessions in the last minute; wait before opening another",
                retry_after_s=int(RATE_WINDOW_S - (now - recent[0])) + 1,
            )
        if live >= self.max_open:
            raise ApiError(
                429,
                ErrorCode.TOO_MANY_SESSIONS,
                f"this kiosk has {live} open sessions; end one (DELETE) before opening another",
            )
        return KioskSession(
            session_id, kiosk_id, nonce, now + self.nonce_ttl_s, False, now, None, None, False
        )

    async def get(self, session_id: str, kiosk_id: str, spend_nonce: str | None = None) -> KioskSession:
        """The kiosk's own live session; another kiosk's session is as unknown as a made-up id. A read trip,
        and a write when its last sight is ``TOUCH_EVERY_S`` old; with ``spend_nonce`` (the authenticate
        request's digest) one write trip that also spends the nonce for that request: the session then says
        whether another request had spent it (see consume_nonce). The same request again, whose first try was
        never answered (its node died), finds the nonce spent for it and goes on."""
        now = self.now()
        if spend_nonce is not None:
            digest = spend_nonce

            def spending(tx: Tx) -> KioskSession:
                session = self._live(tx, session_id, kiosk_id, now)
                fresh = store.spend_nonce(tx, session_id, digest)
                again = not fresh and session.auth_digest == digest and not session.authenticated
                store.touch(tx, session_id, now)
                return dataclasses.replace(session, nonce_used=not (fresh or again), last_seen_at=now)

            return await self.db.write(spending)
        session = await self.db.read(lambda tx: self._live(tx, session_id, kiosk_id, now))
        if now - session.last_seen_at >= TOUCH_EVERY_S:
            await self.db.write(lambda tx: store.touch(tx, session_id, now))
        return dataclasses.replace(session, last_seen_at=now)

    def seen(self, tx: Tx, session_id: str, kiosk_id: str, now: float, writing: bool) -> KioskSession:
        """The session as a step's own transaction reads it first (404 unknown, 410 expired); in a write
        transaction its last sight is written when due, in a read one the step calls ``touch_if_due`` after."""
        session = self._live(tx, session_id, kiosk_id, now)
        if writing and now - session.last_seen_at >= TOUCH_EVERY_S:
            store.touch(tx, session_id, now)
            return dataclasses.replace(session, last_seen_at=now)
        return session

    async def touch_if_due(self, session: KioskSession, now: float) -> None:
        """After a read step: write the session's last sight if it is ``TOUCH_EVERY_S`` old (rarely: a
        resident who paused)."""
        if now - session.last_seen_at >= TOUCH_EVERY_S:
            await self.db.write(lambda tx: store.touch(tx, session.session_id, now))

    def _live(self, tx: Tx, session_id: str, kiosk_id: str, now: float) -> KioskSession:
        session = store.session(tx, session_id)
        if session is None or session.kiosk_id != kiosk_id or session.ended:
            raise ApiError(404, ErrorCode.SESSION_UNKNOWN, "no such session; start a new one")
        if now - session.last_seen_at > self.idle_s:  # expired: nothing to write, the row is swept later
            raise ApiError(410, ErrorCode.SESSION_EXPIRED, "the session timed out; start a new one")
        return session

    def consume_nonce(self, session: KioskSession, nonce: str) -> None:
        """Single use: the first presentation spends it (``get(..., spend_nonce=True)``), whatever the outcome
        of the checks here and after."""
        if session.nonce_used:
            raise ApiError(409, ErrorCode.NONCE_USED, "this nonce was already used; start a new session")
        if not secrets.compare_digest(session.nonce, nonce):
            raise ApiError(400, ErrorCode.NONCE_MISMATCH, "the nonce does not belong to this session")
        if self.now() > session.nonce_expires_at:
            raise ApiError(410, ErrorCode.NONCE_EXPIRED, "the nonce expired; start a new session")

    async def end_for_kiosk(self, kiosk_id: str) -> int:
        """End every session of a kiosk (removed by ops); returns how many."""
        return await self.db.write(lambda tx: store.end_for_kiosk(tx, kiosk_id))

    def live_ids(self, tx: Tx) -> frozenset[str]:
        """Sessions not ended and not (yet) idle past the timeout, in the caller's transaction."""
        return store.live_ids(tx, self.now() - self.idle_s)

    def forget_old(self, tx: Tx) -> int:
        """Forget sessions that ended or went idle, once the opening limit no longer counts them."""
        now = self.now()
        return store.prune(tx, now - RATE_WINDOW_S, now - self.idle_s)

    async def count_open(self) -> int:
        """Count the open sessions (kept in ``open_count`` for the metrics' collector, which cannot wait)."""
        now = self.now()
        self.open_count = await self.db.read(lambda tx: store.open_count(tx, now - self.idle_s))
        return self.open_count
