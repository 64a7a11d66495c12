"""Kiosk sessions in the database: id, single-use nonce, idle timeout, who authenticated.

Nothing of a session is in a server's memory, so any node serves any step and a restart ends no session
(issue 30). Every step reads and touches its session in one write trip; the nonce is spent with a
conditional update, so it is used once whichever node is asked. Expiry uses the nodes' wall clocks (kept
by NTP): seconds of skew against minutes of idle timeout.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Callable
from typing import Final

from issuance_server.api_errors import ApiError
from issuance_server.kiosks import store
from issuance_server.kiosks.store import KioskSession
from issuance_server.storage.engine import Engine, Tx
from wire.kiosk_api import ErrorCode

__all__ = ["KioskSession", "SessionStore"]

RATE_WINDOW_S: Final = 60.0  # the per-kiosk opening limit counts this many seconds


class SessionStore:
    def __init__(
        self,
        db: Engine,
        nonce_ttl_s: float,
        idle_s: float,
        max_open: int = 4,
        opens_per_minute: int = 30,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.nonce_ttl_s = nonce_ttl_s
        self.idle_s = idle_s
        self.max_open = max_open
        self.opens_per_minute = opens_per_minute
        self.now = now
        self.open_count = 0  # as last counted (metrics, status): see count_open

    async def open(self, kiosk_id: str) -> KioskSession:
        """A new session, within the kiosk's limits: ``max_open`` live at once and ``opens_per_minute``."""
        now = self.now()
        session_id, nonce = secrets.token_urlsafe(18), secrets.token_urlsafe(32)  # 256-bit nonce

        def opening(tx: Tx) -> tuple[list[float], int]:
            recent = store.opened_since(tx, kiosk_id, now - RATE_WINDOW_S)
            live = store.live_count(tx, kiosk_id, now - self.idle_s)
            if len(recent) < self.opens_per_minute and live < self.max_open:
                store.insert(tx, session_id, kiosk_id, nonce, now + self.nonce_ttl_s, now)
            return recent, live

        recent, live = await self.db.write(opening)
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

    async def get(self, session_id: str, kiosk_id: str) -> KioskSession:
        """The kiosk's own live session, seen now; another kiosk's session is as unknown as a made-up id."""
        now = self.now()

        def seen(tx: Tx) -> KioskSession | None:
            session = store.session(tx, session_id)
            if session is None or session.kiosk_id != kiosk_id or session.ended:
                return None
            if now - session.last_seen_at > self.idle_s:
                store.end(tx, session_id)
            else:
                store.touch(tx, session_id, now)
            return session

        session = await self.db.write(seen)
        if session is None:
            raise ApiError(404, ErrorCode.SESSION_UNKNOWN, "no such session; start a new one")
        if now - session.last_seen_at > self.idle_s:
            raise ApiError(410, ErrorCode.SESSION_EXPIRED, "the session timed out; start a new one")
        return dataclasses.replace(session, last_seen_at=now)

    async def consume_nonce(self, session: KioskSession, nonce: str) -> None:
        """Single use: the first presentation spends it, whatever the outcome of the check after it."""
        if session.nonce_used or not await self.db.write(
            lambda tx: store.spend_nonce(tx, session.session_id)
        ):
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
