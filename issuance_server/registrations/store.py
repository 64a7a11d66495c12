"""The registrations' tables: the one place their SQL lives.

``registrations``: a resident's credentials (the card, and phones linked to it), each bound to the resident
with its registered PIN's hash and its own status; ``pin_failures``: consecutive wrong PINs per credential,
whose sum per resident locks every active credential of theirs at the limit (a card and a phone share it),
and of which a right PIN clears only its own credential's."""

from __future__ import annotations

from typing import Any, Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("registrations", "pin_failures")


def by_card(tx: Tx, fingerprint: str) -> Row | None:
    """The registration of the credential (card or phone) whose certificate has this fingerprint."""
    return tx.one(
        "SELECT registration_id, atena_no, pin_hash, status, lock_reason, form, linked_card FROM registrations"
        " WHERE card_fingerprint = ?",
        (fingerprint,),
    )


def status_of(tx: Tx, registration_id: int) -> str | None:
    value = tx.value("SELECT status FROM registrations WHERE registration_id = ?", (registration_id,))
    return None if value is None else str(value)


def form_of(tx: Tx, registration_id: int) -> str | None:
    value = tx.value("SELECT form FROM registrations WHERE registration_id = ?", (registration_id,))
    return None if value is None else str(value)


def count_failure(tx: Tx, atena_no: str, registration_id: int, limit: int, now: str) -> int:
    """One more wrong PIN counted against the credential; when the resident's sum reaches ``limit`` every
    active credential of theirs is locked. The resident's sum after this one."""
    tx.execute(
        "INSERT INTO pin_failures (registration_id, atena_no, failures) VALUES (?, ?, 1)"
        " ON CONFLICT (registration_id) DO UPDATE SET failures = pin_failures.failures + 1",
        (registration_id, atena_no),
    )
    failures = failures_of(tx, atena_no)
    if failures >= limit:
        tx.execute(
            "UPDATE registrations SET status = 'locked', lock_reason = 'pin_failures', updated_at = ?"
            " WHERE atena_no = ? AND status = 'active'",
            (now, atena_no),
        )
    return failures


def failures_of(tx: Tx, atena_no: str) -> int:
    """The resident's wrong PINs, all credentials together."""
    return int(tx.value("SELECT SUM(failures) FROM pin_failures WHERE atena_no = ?", (atena_no,)) or 0)


def clear_failures(tx: Tx, registration_id: int, atena_no: str, pin_hash: str, limit: int, now: str) -> int:
    """A right PIN: the credential's own count cleared and the credential active (a lock from attempts
    counted meanwhile lifted, on the resident's other credentials too while their sum stays below ``limit``);
    0 when the registration was suspended or revoked meanwhile, or bound again (another holder or PIN) since
    the PIN was checked against it."""
    done = tx.execute(
        "UPDATE registrations SET status = 'active', lock_reason = NULL, updated_at = ?"
        " WHERE registration_id = ? AND status IN ('active', 'locked') AND atena_no = ? AND pin_hash = ?",
        (now, registration_id, atena_no, pin_hash),
    )
    if done:
        tx.execute("DELETE FROM pin_failures WHERE registration_id = ?", (registration_id,))
        if failures_of(tx, atena_no) < limit:
            _lift_pin_locks(tx, atena_no, now)
    return done


def reset_failures(tx: Tx, atena_no: str, now: str, registration_id: int | None = None) -> None:
    """The resident's counts cleared and the locks they made lifted (``registration_id``: only that
    credential's count, no lock lifted)."""
    if registration_id is not None:
        tx.execute("DELETE FROM pin_failures WHERE registration_id = ?", (registration_id,))
        return
    tx.execute("DELETE FROM pin_failures WHERE atena_no = ?", (atena_no,))
    _lift_pin_locks(tx, atena_no, now)


def _lift_pin_locks(tx: Tx, atena_no: str, now: str) -> None:
    tx.execute(
        "UPDATE registrations SET status = 'active', lock_reason = NULL, updated_at = ?"
        " WHERE atena_no = ? AND status = 'locked' AND lock_reason = 'pin_failures'",
        (now, atena_no),
    )


def revoke_replaced(tx: Tx, atena_no: str, fingerprint: str, now: str) -> int:
    """A card registered: the resident's other cards revoked, and every phone not linked to this card (the
    phones of an old card go with it). How many."""
    return tx.execute(
        "UPDATE registrations SET status = 'revoked', lock_reason = NULL, updated_at = ?"
        " WHERE atena_no = ? AND card_fingerprint != ? AND status != 'revoked'"
        " AND (form = 'card' OR linked_card IS NULL OR linked_card NOT IN"
        " (SELECT registration_id FROM registrations WHERE card_fingerprint = ?))",
        (now, atena_no, fingerprint, fingerprint),
    )


def bind_card(tx: Tx, row: dict[str, Any]) -> None:
    """The card registered (again) for the resident, active; the resident's count of wrong PINs cleared."""
    tx.execute(
        "INSERT INTO registrations (atena_no, card_fingerprint, card_serial, cert_serial, card_not_after, pin_hash,"
        " status, form, registered_by, registered_at, updated_at) VALUES (:atena_no, :card_fingerprint,"
        " :card_serial, :cert_serial, :card_not_after, :pin_hash, 'active', 'card', :registered_by, :now, :now)"
        " ON CONFLICT(card_fingerprint) DO UPDATE SET atena_no = excluded.atena_no, pin_hash = excluded.pin_hash,"
        " status = 'active', lock_reason = NULL, form = 'card', linked_card = NULL,"
        " cert_serial = excluded.cert_serial, registered_by = excluded.registered_by,"
        " updated_at = excluded.updated_at",
        row,
    )
    reset_failures(tx, str(row["atena_no"]), str(row["now"]))


def bind_phone(tx: Tx, row: dict[str, Any]) -> None:
    """A phone linked to the resident's card (again, after a revocation), active with its own PIN."""
    tx.execute(
        "INSERT INTO registrations (atena_no, card_fingerprint, card_serial, cert_serial, card_not_after, pin_hash,"
        " status, form, linked_card, registered_by, registered_at, updated_at) VALUES (:atena_no,"
        " :card_fingerprint, :card_serial, :cert_serial, :card_not_after, :pin_hash, 'active', :form,"
        " :linked_card, :registered_by, :now, :now) ON CONFLICT(card_fingerprint) DO UPDATE SET"
        " atena_no = excluded.atena_no, pin_hash = excluded.pin_hash, status = 'active', lock_reason = NULL,"
        " form = excluded.form, linked_card = excluded.linked_card, registered_by = excluded.registered_by,"
        " updated_at = excluded.updated_at",
        row,
    )


def set_status(
    tx: Tx, atena_no: str, new: str, allowed: tuple[str, ...], now: str, registration_id: int | None = None
) -> int:
    """The resident's registrations (or only ``registration_id``) in one of ``allowed`` set to ``new``; how
    many."""
    marks = ",".join("?" * len(allowed))
    one = "" if registration_id is None else " AND registration_id = ?"
    return tx.execute(
        f"UPDATE registrations SET status = ?, lock_reason = NULL, updated_at = ? WHERE atena_no = ? AND status IN ({marks}){one}",  # noqa: S608  placeholders only; values are bound
        (new, now, atena_no, *allowed, *(() if registration_id is None else (registration_id,))),
    )


def lift_card_block(tx: Tx, registration_id: int, now: str) -> int:
    """A lock for the card's own PIN lifted (the card signed again): active, the resident's count as it was."""
    return tx.execute(
        "UPDATE registrations SET status = 'active', lock_reason = NULL, updated_at = ?"
        " WHERE registration_id = ? AND status = 'locked' AND lock_reason = 'card_pin_blocked'",
        (now, registration_id),
    )


def lock_blocked_card(tx: Tx, registration_id: int, now: str) -> int:
    """The credential's own PIN is blocked (a kiosk's report): its active registration locked; 1, else 0."""
    return tx.execute(
        "UPDATE registrations SET status = 'locked', lock_reason = 'card_pin_blocked', updated_at = ?"
        " WHERE registration_id = ? AND status = 'active'",
        (now, registration_id),
    )


def of_resident(tx: Tx, atena_no: str) -> list[Row]:
    """The resident's credentials (cards and phones), each with its own count of wrong PINs."""
    return tx.all(
        "SELECT r.registration_id, r.form, r.card_serial, r.cert_serial, r.linked_card, r.status, r.lock_reason,"
        " COALESCE(f.failures, 0) AS failures, r.registered_at, r.updated_at FROM registrations r"
        " LEFT JOIN pin_failures f ON f.registration_id = r.registration_id WHERE r.atena_no = ?"
        " ORDER BY r.registration_id",
        (atena_no,),
    )
