"""Checking a kiosk PIN against the registration of the credential presented: count the attempt first, then
verify.

The attempt is counted against the credential, and every active credential of the resident locked when the
resident's sum reaches the limit (a card and its linked phones share it), *before* the argon2id check, in
one transaction, so guesses sent at the same time can never exceed the limit (each is counted before any is
verified); a right PIN then clears that credential's count (not the others': a thief's guesses on a phone
stay counted while the owner uses the card). A phone whose PIN the city leaves to the phone (``on_device``) signs in without
an attempt (:func:`check_without_pin`).

The registration is read and the attempt counted in one write transaction, and the outcome written with
its audit row in a second: two trips to the database per attempt.

Attempts on one registration are judged one at a time, in the order they arrive (on this server): a right
PIN is accepted until the limit's failures have happened, even while other attempts wait, and after them
every attempt is refused. Across several servers, or a card and a phone of one resident at two kiosks, the
count in the database still bounds the guesses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from issuance_server.core import ServerCore
from issuance_server.registrations import store
from issuance_server.secret_hashing import PIN
from issuance_server.storage.engine import Row, Tx
from wire.clock import utc_now_iso
from wire.kiosk_api import ErrorCode


@dataclass(frozen=True)
class PinCheck:
    """The outcome of one attempt: ``result`` is "ok", pin_wrong, registration_locked,
    registration_suspended or card_not_registered (no registration, or a revoked one)."""

    result: str
    registration_id: int | None = None
    atena_no: str | None = None
    tries_left: int = 0
    locked_now: bool = False  # this attempt reached the limit and locked the registration


# The audit row of an attempt, written in the transaction that settles it.
Record = Callable[[Tx, PinCheck], None]


CARD_PIN_BLOCKED = "card_pin_blocked"


def lock_blocked_card(tx: Tx, card_fingerprint: str, now: str) -> tuple[str, str | None]:
    """A kiosk found this card's own PIN blocked (three wrong PINs at the card: it cannot sign any more):
    its active registration is locked as ``card_pin_blocked`` (unlocked or re-registered at the desk after
    J-LIS's PIN reset). ``("locked" | "already_locked" | "not_active" | "card_not_registered", atena_no)``."""
    reg = store.by_card(tx, card_fingerprint)
    if reg is None or reg["status"] == "revoked":
        return ErrorCode.CARD_NOT_REGISTERED, None
    atena_no = str(reg["atena_no"])
    if store.lock_blocked_card(tx, int(reg["registration_id"]), now):
        return "locked", atena_no
    return ("already_locked" if reg["status"] == "locked" else "not_active"), atena_no


async def check_pin(core: ServerCore, card_fingerprint: str, pin: str, record: Record) -> PinCheck:
    """Check ``pin`` against the registration of the credential (registrations and credentials are one to
    one, so the certificate's fingerprint keys the turn of its registration)."""
    async with core.pin_turns.hold(card_fingerprint):
        return await _check_in_turn(core, card_fingerprint, pin, record)


async def check_without_pin(core: ServerCore, card_fingerprint: str, record: Record) -> PinCheck:
    """A phone that verified its owner itself (the city's ``on_device`` policy for its form): signed in when
    its registration is active, with no attempt counted."""

    def check(tx: Tx) -> PinCheck:
        reg = store.by_card(tx, card_fingerprint)
        if reg is not None and reg["status"] == "locked" and reg["lock_reason"] == CARD_PIN_BLOCKED:
            # the phone has just signed: a report that its PIN is blocked has no ground left
            store.lift_card_block(tx, int(reg["registration_id"]), utc_now_iso())
            reg = {**reg, "status": "active", "lock_reason": None}
        if reg is None or reg["status"] == "revoked":
            result = PinCheck(ErrorCode.CARD_NOT_REGISTERED)
        elif reg["status"] != "active":
            code = (
                ErrorCode.REGISTRATION_SUSPENDED
                if reg["status"] == "suspended"
                else ErrorCode.REGISTRATION_LOCKED
            )
            result = PinCheck(code, int(reg["registration_id"]), reg["atena_no"])
        else:
            result = PinCheck("ok", int(reg["registration_id"]), reg["atena_no"])
        record(tx, result)
        return result

    return await core.db.write(check)


async def _check_in_turn(core: ServerCore, card_fingerprint: str, pin: str, record: Record) -> PinCheck:
    limit = core.settings.pin_max_failures
    refused, reg, failures = await core.db.write(
        partial(_count_attempt, card_fingerprint, limit, utc_now_iso(), record)
    )
    if refused is not None:
        return refused
    assert reg is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    right = await core.hasher.verify(PIN, reg["pin_hash"], pin)
    return await core.db.write(partial(_settle, reg, right, failures, limit, utc_now_iso(), record))


def _count_attempt(
    fingerprint: str, limit: int, now: str, record: Record, tx: Tx
) -> tuple[PinCheck | None, Row | None, int]:
    """The credential's registration and the attempt counted against its resident (locking at the limit); a
    refusal, recorded, when there is nothing to count against."""
    reg = store.by_card(tx, fingerprint)
    if reg is not None and reg["status"] == "locked" and reg["lock_reason"] == CARD_PIN_BLOCKED:
        # The card has just signed this attempt's challenge, so its own PIN is not blocked (any more: a
        # report was wrong, or J-LIS reset the PIN): the lock reported for it has no ground left.
        store.lift_card_block(tx, int(reg["registration_id"]), now)
        reg = {**reg, "status": "active", "lock_reason": None}
    if reg is None or reg["status"] == "revoked":
        refused = PinCheck(ErrorCode.CARD_NOT_REGISTERED)
    elif reg["status"] == "active":
        return (
            None,
            reg,
            store.count_failure(tx, str(reg["atena_no"]), int(reg["registration_id"]), limit, now),
        )
    else:
        code = (
            ErrorCode.REGISTRATION_SUSPENDED
            if reg["status"] == "suspended"
            else ErrorCode.REGISTRATION_LOCKED
        )
        refused = PinCheck(code, int(reg["registration_id"]), reg["atena_no"])
    record(tx, refused)
    return refused, reg, 0


def _settle(reg: Row, right: bool, failures: int, limit: int, now: str, record: Record, tx: Tx) -> PinCheck:
    registration_id, atena_no = int(reg["registration_id"]), str(reg["atena_no"])
    if right:
        # A lock now can only come from attempts counted while this one was in flight (a registration
        # locked before it started refused it above): the right PIN clears them.
        if store.clear_failures(tx, registration_id, atena_no, str(reg["pin_hash"]), limit, now):
            check = PinCheck("ok", registration_id, atena_no, limit)
        else:
            check = PinCheck(ErrorCode.REGISTRATION_SUSPENDED, registration_id, atena_no)
    elif tries_left := max(0, limit - failures):
        check = PinCheck(ErrorCode.PIN_WRONG, registration_id, atena_no, tries_left)
    else:
        check = PinCheck(ErrorCode.REGISTRATION_LOCKED, registration_id, atena_no, locked_now=True)
    record(tx, check)
    return check
