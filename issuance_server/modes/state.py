"""The server's mode (normal / recovery / maintenance): its state, persisted, and the one way to switch it.

Who decides a switch is elsewhere (the registry link's circuit breaker, or ops by hand); every switch
goes through :func:`switch_mode`, which persists it and appends it to the audit log.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from issuance_server.audit.trail import Actor, append_sync
from issuance_server.modes import store
from issuance_server.storage.engine import Engine, Tx
from wire.clock import utc_now_iso
from wire.kiosk_api import Mode

MODES = tuple(Mode)


@dataclass
class ModeState:
    mode: str = Mode.NORMAL
    manual: bool = False
    since: str = ""
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return asdict(self)


async def load_mode(db: Engine) -> ModeState:
    row = await db.read(store.load)
    if row is None:
        return ModeState(since=utc_now_iso())
    return ModeState(row["mode"], bool(row["manual"]), row["since"], row["reason"])


async def switch_mode(
    db: Engine, chain_key: bytes, state: ModeState, mode: str, manual: bool, reason: str, actor: Actor
) -> bool:
    """Switch (in place) and record it, audited with the trail's ``chain_key``; returns False when nothing
    changed."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    if (state.mode, state.manual) == (mode, manual):
        return False
    previous = state.mode
    state.mode, state.manual, state.since, state.reason = mode, manual, utc_now_iso(), reason[:300]

    def record(tx: Tx) -> None:
        store.save(tx, state.mode, state.manual, state.since, state.reason)
        append_sync(
            tx, chain_key, actor, "mode_switch", "ok", None,
            previous=previous, mode=mode, manual=manual, reason=reason[:300],
        )  # fmt: skip

    await db.write(record)
    return True
