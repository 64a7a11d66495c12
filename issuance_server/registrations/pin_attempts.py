"""Checking a kiosk PIN against the registration: count the attempt first, then verify.

The attempt is counted (and the registration locked when it reaches the limit) *before* the argon2id
check, in one statement, so guesses sent at the same time can never exceed the limit (each is counted
before any is verified); a right PIN then resets the count.

Attempts on one registration are judged one at a time, in the order they arrive (on this server): a right
PIN is accepted until the limit's failures have happened, even while other attempts wait, and after them
every attempt is refused. Across several servers the count in the database still bounds the guesses.
"""

from __future__ import annotations

from functools import partial

from issuance_server.core import ServerCore
from issuance_server.secret_hashing import PIN
from issuance_server.storage.engine import Row, Tx
from wire.clock import utc_now_iso
from wire.kiosk_api import ErrorCode


async def check_pin(core: ServerCore, registration_id: int, pin_hash: str, pin: str) -> tuple[str, int, bool]:
    """("ok" | pin_wrong | registration_locked | registration_suspended, tries left, whether this attempt
    locked the registration)."""
    async with core.pin_turns.hold(registration_id):
        return await _check_in_turn(core, registration_id, pin_hash, pin)


async def _check_in_turn(
    core: ServerCore, registration_id: int, pin_hash: str, pin: str
) -> tuple[str, int, bool]:
    limit = core.settings.pin_max_failures
    counted, row = await core.db.write(partial(_count_attempt, registration_id, limit, utc_now_iso()))
    if not counted:
        return (
            (
                ErrorCode.REGISTRATION_SUSPENDED
                if row["status"] == "suspended"
                else ErrorCode.REGISTRATION_LOCKED
            ),
            0,
            False,
        )
    failures = int(row["failures"])
    if await core.hasher.verify(PIN, pin_hash, pin):
        # A lock now can only come from attempts counted while this one was in flight (a registration
        # locked before it started refused it above): the right PIN clears them.
        restored = await core.db.execute(
            "UPDATE registrations SET failures = 0, status = 'active', updated_at = ?"
            " WHERE registration_id = ? AND status IN ('active', 'locked')",
            (utc_now_iso(), registration_id),
        )
        return ("ok", limit, False) if restored else (ErrorCode.REGISTRATION_SUSPENDED, 0, False)
    tries_left = max(0, limit - failures)
    if tries_left:
        return ErrorCode.PIN_WRONG, tries_left, False
    return ErrorCode.REGISTRATION_LOCKED, 0, True


def _count_attempt(registration_id: int, limit: int, now: str, tx: Tx) -> tuple[int, Row]:
    """Count the attempt (locking at the limit) and read the count back, in one write transaction."""
    counted = tx.execute(
        "UPDATE registrations SET failures = failures + 1,"
        " status = CASE WHEN failures + 1 >= ? THEN 'locked' ELSE status END, updated_at = ?"
        " WHERE registration_id = ? AND status = 'active'",
        (limit, now, registration_id),
    )
    row = tx.one("SELECT failures, status FROM registrations WHERE registration_id = ?", (registration_id,))
    assert row is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    return counted, row
