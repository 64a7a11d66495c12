"""The registrations' table (``registrations``: a card bound to a resident with its PIN hash, status and
consecutive failures): the one place its SQL lives."""

from __future__ import annotations

from typing import Any, Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("registrations",)


def by_card(tx: Tx, fingerprint: str) -> Row | None:
    return tx.one(
        "SELECT registration_id, atena_no, pin_hash, status, lock_reason FROM registrations"
        " WHERE card_fingerprint = ?",
        (fingerprint,),
    )


def status_of(tx: Tx, registration_id: int) -> str | None:
    value = tx.value("SELECT status FROM registrations WHERE registration_id = ?", (registration_id,))
    return None if value is None else str(value)


def count_failure(tx: Tx, registration_id: int, limit: int, now: str) -> int:
    """One more failure counted against an active registration (locked at ``limit``): 1, or 0 when it
    is not active."""
    return tx.execute(
        "UPDATE registrations SET failures = failures + 1,"
        " status = CASE WHEN failures + 1 >= ? THEN 'locked' ELSE status END,"
        " lock_reason = CASE WHEN failures + 1 >= ? THEN 'pin_failures' END, updated_at = ?"
        " WHERE registration_id = ? AND status = 'active'",
        (limit, limit, now, registration_id),
    )


def failures_and_status(tx: Tx, registration_id: int) -> Row | None:
    return tx.one("SELECT failures, status FROM registrations WHERE registration_id = ?", (registration_id,))


def clear_failures(tx: Tx, registration_id: int, atena_no: str, pin_hash: str, now: str) -> int:
    """A right PIN: failures cleared (and a lock from attempts counted meanwhile lifted); 0 when the
    registration was suspended or revoked meanwhile, or bound again (another holder or PIN) since the
    PIN was checked against it."""
    return tx.execute(
        "UPDATE registrations SET failures = 0, status = 'active', lock_reason = NULL, updated_at = ?"
        " WHERE registration_id = ? AND status IN ('active', 'locked') AND atena_no = ? AND pin_hash = ?",
        (now, registration_id, atena_no, pin_hash),
    )


def revoke_other_cards(tx: Tx, atena_no: str, fingerprint: str, now: str) -> int:
    return tx.execute(
        "UPDATE registrations SET status = 'revoked', lock_reason = NULL, updated_at = ?"
        " WHERE atena_no = ? AND card_fingerprint != ? AND status != 'revoked'",
        (now, atena_no, fingerprint),
    )


def bind_card(tx: Tx, row: dict[str, Any]) -> None:
    """The card registered (again) for the resident, active with no failures."""
    tx.execute(
        "INSERT INTO registrations (atena_no, card_fingerprint, card_serial, card_not_after, pin_hash, status,"
        " failures, registered_by, registered_at, updated_at) VALUES (:atena_no, :card_fingerprint, :card_serial,"
        " :card_not_after, :pin_hash, 'active', 0, :registered_by, :now, :now) ON CONFLICT(card_fingerprint)"
        " DO UPDATE SET atena_no = excluded.atena_no, pin_hash = excluded.pin_hash, status = 'active',"
        " failures = 0, lock_reason = NULL, registered_by = excluded.registered_by,"
        " updated_at = excluded.updated_at",
        row,
    )


def set_status(tx: Tx, atena_no: str, new: str, allowed: tuple[str, ...], now: str) -> int:
    """The resident's registrations in one of ``allowed`` set to ``new`` (failures cleared); how many."""
    marks = ",".join("?" * len(allowed))
    return tx.execute(
        f"UPDATE registrations SET status = ?, failures = 0, lock_reason = NULL, updated_at = ? WHERE atena_no = ? AND status IN ({marks})",  # noqa: S608  placeholders only; values are bound
        (new, now, atena_no, *allowed),
    )


def lift_card_block(tx: Tx, registration_id: int, now: str) -> int:
    """A lock for the card's own PIN lifted (the card signed again): active, its failures as they were."""
    return tx.execute(
        "UPDATE registrations SET status = 'active', lock_reason = NULL, updated_at = ?"
        " WHERE registration_id = ? AND status = 'locked' AND lock_reason = 'card_pin_blocked'",
        (now, registration_id),
    )


def lock_blocked_card(tx: Tx, registration_id: int, now: str) -> int:
    """The card's own PIN is blocked (a kiosk's report): its active registration locked; 1, else 0."""
    return tx.execute(
        "UPDATE registrations SET status = 'locked', lock_reason = 'card_pin_blocked', updated_at = ?"
        " WHERE registration_id = ? AND status = 'active'",
        (now, registration_id),
    )


def of_resident(tx: Tx, atena_no: str) -> list[Row]:
    return tx.all(
        "SELECT card_serial, status, lock_reason, failures, registered_at, updated_at FROM registrations"
        " WHERE atena_no = ?"
        " ORDER BY registration_id",
        (atena_no,),
    )
