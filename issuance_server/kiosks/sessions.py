"""Kiosk sessions held in memory: id, single-use nonce, idle timeout, who authenticated, what was issued.

A restart of the server ends every open session; the kiosk then starts a new one.
"""

from __future__ import annotations

import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from issuance_server.api_errors import ApiError
from wire.kiosk_api import ErrorCode


@dataclass
class KioskSession:
    session_id: str
    kiosk_id: str
    nonce: str
    nonce_expires: float
    last_seen: float
    nonce_used: bool = False
    atena_no: str | None = None
    registration_id: int | None = None
    ended: bool = False

    @property
    def authenticated(self) -> bool:
        return self.atena_no is not None


class SessionStore:
    def __init__(
        self,
        nonce_ttl_s: float,
        idle_s: float,
        max_open: int = 4,
        opens_per_minute: int = 30,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.nonce_ttl_s = nonce_ttl_s
        self.idle_s = idle_s
        self.max_open = max_open
        self.opens_per_minute = opens_per_minute
        self._sessions: dict[str, KioskSession] = {}
        self._opened: dict[str, deque[float]] = {}  # per kiosk: when its sessions of the last minute opened
        self._now = now

    def open(self, kiosk_id: str) -> KioskSession:
        """A new session, within the kiosk's limits: ``max_open`` live at once and ``opens_per_minute``."""
        self._prune()
        now = self._now()
        recent = self._opened.setdefault(kiosk_id, deque())
        while recent and now - recent[0] >= 60:
            recent.popleft()
        if len(recent) >= self.opens_per_minute:
            raise ApiError(
                429,
                ErrorCode.SESSION_RATE_LIMITED,
                f"this kiosk opened {len(recent)} sessions in the last minute; wait before opening another",
                retry_after_s=int(60 - (now - recent[0])) + 1,
            )
        live = sum(1 for s in self._sessions.values() if s.kiosk_id == kiosk_id)
        if live >= self.max_open:
            raise ApiError(
                429,
                ErrorCode.TOO_MANY_SESSIONS,
                f"this kiosk has {live} open sessions; end one (DELETE) before opening another",
            )
        recent.append(now)
        session = KioskSession(
            session_id=secrets.token_urlsafe(18),
            kiosk_id=kiosk_id,
            nonce=secrets.token_urlsafe(32),  # 256 bits
            nonce_expires=now + self.nonce_ttl_s,
            last_seen=now,
        )
        self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str, kiosk_id: str) -> KioskSession:
        """The kiosk's own live session; another kiosk's session is as unknown as a made-up id."""
        session = self._sessions.get(session_id)
        if session is None or session.kiosk_id != kiosk_id or session.ended:
            raise ApiError(404, ErrorCode.SESSION_UNKNOWN, "no such session; start a new one")
        now = self._now()
        if now - session.last_seen > self.idle_s:
            self.end(session)
            raise ApiError(410, ErrorCode.SESSION_EXPIRED, "the session timed out; start a new one")
        session.last_seen = now
        return session

    def consume_nonce(self, session: KioskSession, nonce: str) -> None:
        """Single use: the first presentation spends it, whatever the outcome of the check after it."""
        if session.nonce_used:
            raise ApiError(409, ErrorCode.NONCE_USED, "this nonce was already used; start a new session")
        session.nonce_used = True
        if not secrets.compare_digest(session.nonce, nonce):
            raise ApiError(400, ErrorCode.NONCE_MISMATCH, "the nonce does not belong to this session")
        if self._now() > session.nonce_expires:
            raise ApiError(410, ErrorCode.NONCE_EXPIRED, "the nonce expired; start a new session")

    def end(self, session: KioskSession) -> None:
        session.ended = True
        self._sessions.pop(session.session_id, None)

    def end_for_kiosk(self, kiosk_id: str) -> int:
        """End every session of a kiosk (removed by ops); returns how many."""
        mine = [s for s in self._sessions.values() if s.kiosk_id == kiosk_id]
        for session in mine:
            self.end(session)
        return len(mine)

    def _prune(self) -> None:
        now = self._now()
        for sid in [s for s, v in self._sessions.items() if now - v.last_seen > self.idle_s]:
            del self._sessions[sid]

    def live_ids(self) -> frozenset[str]:
        """Sessions not (yet) idle past the timeout."""
        now = self._now()
        return frozenset(sid for sid, s in self._sessions.items() if now - s.last_seen <= self.idle_s)

    def __len__(self) -> int:
        return len(self._sessions)
