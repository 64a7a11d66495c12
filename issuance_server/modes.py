"""The server's mode (normal / recovery / maintenance): its state, persisted, and the one way to switch it.

Who decides a switch is elsewhere (the registry link's circuit breaker, or ops by hand); every switch
goes through :func:`switch_mode`, which persists it and appends it to the audit log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from issuance_server.audit.trail import Actor, AuditLog
from issuance_server.storage.database import Database
from wire.clock import utc_now_iso

MODES = ("normal", "recovery", "maintenance")


@dataclass
class ModeState:
    mode: str = "normal"
    manual: bool = False
    since: str = ""
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


async def load_mode(db: Database) -> ModeState:
    row = await db.fetchone("SELECT mode, manual, since, reason FROM mode_state WHERE id = 1")
    if row is None:
        return ModeState(since=utc_now_iso())
    return ModeState(row["mode"], bool(row["manual"]), row["since"], row["reason"])


async def switch_mode(
    db: Database, audit: AuditLog, state: ModeState, mode: str, manual: bool, reason: str, actor: Actor
) -> bool:
    """Switch (in place) and record it; returns False when nothing changed."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if (state.mode, state.manual) == (mode, manual):
        return False
    previous = state.mode
    state.mode, state.manual, state.since, state.reason = mode, manual, utc_now_iso(), reason[:300]
    async with db.transaction() as tx:
        await tx.execute(
            "UPDATE mode_state SET mode = ?, manual = ?, since = ?, reason = ? WHERE id = 1",
            (state.mode, int(state.manual), state.since, state.reason),
        )
        await audit.append_in(
            tx,
            actor,
            "mode_switch",
            "ok",
            None,
            previous=previous,
            mode=mode,
            manual=manual,
            reason=reason[:300],
        )
    return True
