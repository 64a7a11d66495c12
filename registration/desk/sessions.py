"""The desk's own sessions (in memory, on the clerk's PC): one per browser login, holding the server's
staff session token (never sent to the page), the staff member's roles and the session's CSRF token.
After ``idle_lock_s`` without a request the session is locked: pages show nothing personal until the
staff member types their password again."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field


@dataclass
class DeskSession:
    sid: str
    staff_id: str
    token: str  # the issuance server's staff session
    roles: frozenset[str]
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    last_seen: float = field(default_factory=time.monotonic)
    locked: bool = False


@dataclass
class PendingEnrolment:
    """Between showing a new TOTP seed's QR code and its confirmation (kept a few minutes, then dropped)."""

    staff_id: str
    password: str
    terminal: str
    qr_svg: str
    secret: str
    started: float = field(default_factory=time.monotonic)


class DeskSessions:
    def __init__(self, idle_lock_s: float, enrolment_s: float = 300.0) -> None:
        self.idle_lock_s = idle_lock_s
        self.enrolment_s = enrolment_s
        self._by_sid: dict[str, DeskSession] = {}
        self._enrolments: dict[str, PendingEnrolment] = {}

    def open(self, staff_id: str, token: str, roles: frozenset[str]) -> DeskSession:
        session = DeskSession(secrets.token_urlsafe(32), staff_id, token, roles)
        self._by_sid[session.sid] = session
        return session

    def get(self, sid: str | None) -> DeskSession | None:
        """The session behind a cookie (locked if it was idle too long); touching it counts as activity."""
        session = self._by_sid.get(sid or "")
        if session is None:
            return None
        now = time.monotonic()
        if now - session.last_seen > self.idle_lock_s:
            session.locked = True
        session.last_seen = now
        return session

    def end(self, sid: str) -> DeskSession | None:
        return self._by_sid.pop(sid, None)

    def start_enrolment(self, pending: PendingEnrolment) -> str:
        key = secrets.token_urlsafe(32)
        self._enrolments[key] = pending
        return key

    def enrolment(self, key: str | None) -> PendingEnrolment | None:
        pending = self._enrolments.get(key or "")
        if pending is not None and time.monotonic() - pending.started > self.enrolment_s:
            self._enrolments.pop(key or "", None)
            return None
        return pending

    def finish_enrolment(self, key: str) -> None:
        self._enrolments.pop(key, None)
