"""The staff tables (``staff``, ``staff_sessions``, ``staff_recovery_codes``): the one place their SQL lives."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("staff", "staff_sessions", "staff_recovery_codes")

# --- accounts -------------------------------------------------------------------------------------------


def exists(tx: Tx, staff_id: str) -> bool:
    return tx.one("SELECT 1 FROM staff WHERE staff_id = ?", (staff_id,)) is not None


def count(tx: Tx) -> int:
    return int(tx.value("SELECT COUNT(*) FROM staff"))


def active_admins(tx: Tx) -> int:
    return int(
        tx.value("SELECT COUNT(*) FROM staff WHERE active = 1 AND ',' || roles || ',' LIKE '%,admin,%'")
    )


def insert_bootstrapped(tx: Tx, staff_id: str, name: str, roles: str, password_hash: str, now: str) -> None:
    """An account made on the server machine (``konbini-clerk bootstrap``): in force at once."""
    tx.execute(
        "INSERT INTO staff (staff_id, display_name, roles, password_hash, created_at, created_by)"
        " VALUES (?, ?, ?, ?, ?, 'bootstrap')",
        (staff_id, name, roles, password_hash, now),
    )


def insert_requested(
    tx: Tx, staff_id: str, name: str, password_hash: str, pending_roles: str, by: str, now: str
) -> None:
    """An account asked for by an administrator: no roles until another one approves."""
    tx.execute(
        "INSERT INTO staff (staff_id, display_name, roles, password_hash, created_at, created_by,"
        " pending_roles, pending_by, pending_at, approved) VALUES (?, ?, '', ?, ?, ?, ?, ?, ?, 0)",
        (staff_id, name, password_hash, now, by, pending_roles, by, now),
    )


def account(tx: Tx, staff_id: str) -> Row | None:
    """Roles, active and what waits for approval."""
    return tx.one(
        "SELECT staff_id, roles, active, pending_roles, pending_by, approved FROM staff WHERE staff_id = ?",
        (staff_id,),
    )


def listing(tx: Tx) -> list[Row]:
    """Every account with its state and the number of unused recovery codes."""
    return tx.all(
        "SELECT staff_id, display_name, roles, active, locked_at, failed_logins, totp_secret IS NOT NULL AS"
        " totp, created_at, created_by, pending_roles, pending_by, approved, (SELECT count(*) FROM"
        " staff_recovery_codes c WHERE c.staff_id = staff.staff_id AND used_at IS NULL) AS recovery_codes_left"
        " FROM staff ORDER BY staff_id"
    )


def created_by(tx: Tx, staff_id: str) -> str | None:
    """Who made the account (None: no such account, or one made before this was kept)."""
    value = tx.value("SELECT created_by FROM staff WHERE staff_id = ?", (staff_id,))
    return None if value is None else str(value)


def holds_role(tx: Tx, staff_id: str, role: str) -> bool:
    """The account exists, is active and holds ``role``."""
    row = tx.one("SELECT active, roles FROM staff WHERE staff_id = ?", (staff_id,))
    return row is not None and bool(row["active"]) and role in str(row["roles"]).split(",")


def set_roles(tx: Tx, staff_id: str, roles: str, pending: str | None, by: str | None, at: str | None) -> None:
    """The roles in force, and those waiting for approval (None: none wait)."""
    tx.execute(
        "UPDATE staff SET roles = ?, pending_roles = ?, pending_by = ?, pending_at = ? WHERE staff_id = ?",
        (roles, pending, by, at, staff_id),
    )


def set_active(tx: Tx, staff_id: str, active: bool) -> None:
    tx.execute("UPDATE staff SET active = ? WHERE staff_id = ?", (int(active), staff_id))


def approve_pending(tx: Tx, staff_id: str, pending_roles: str, pending_by: str) -> bool:
    """Put the roles waiting for approval in force, if they are still those ``pending_by`` asked for."""
    changed = tx.execute(
        "UPDATE staff SET roles = pending_roles, pending_roles = NULL, pending_by = NULL, pending_at = NULL"
        " WHERE staff_id = ? AND pending_roles = ? AND pending_by = ?",
        (staff_id, pending_roles, pending_by),
    )
    return bool(changed)


def approve_account(tx: Tx, staff_id: str, password_hash: str) -> None:
    """A new account approved, with its temporary password."""
    tx.execute(
        "UPDATE staff SET password_hash = ?, approved = 1 WHERE staff_id = ?", (password_hash, staff_id)
    )


def drop_pending(tx: Tx, staff_id: str) -> None:
    tx.execute(
        "UPDATE staff SET pending_roles = NULL, pending_by = NULL, pending_at = NULL WHERE staff_id = ?",
        (staff_id,),
    )


def set_password(tx: Tx, staff_id: str, password_hash: str) -> None:
    tx.execute("UPDATE staff SET password_hash = ? WHERE staff_id = ?", (password_hash, staff_id))


# --- login attempts and lockouts ------------------------------------------------------------------------


def end_lockout_before(tx: Tx, staff_id: str, expired: str) -> None:
    """A lockout from before ``expired`` has run its time: the count starts again."""
    tx.execute(
        "UPDATE staff SET locked_at = NULL, failed_logins = 0 WHERE staff_id = ? AND locked_at < ?",
        (staff_id, expired),
    )


def count_attempt(tx: Tx, staff_id: str) -> Row | None:
    """Count a login attempt on an active account; what checking it needs (None: no active account)."""
    return tx.one(
        "UPDATE staff SET failed_logins = failed_logins + 1 WHERE staff_id = ? AND active = 1"
        " RETURNING password_hash, failed_logins, locked_at, totp_secret, totp_pending",
        (staff_id,),
    )


def lock(tx: Tx, staff_id: str, now: str) -> bool:
    """Lock the account; False when it was locked already."""
    changed = tx.execute(
        "UPDATE staff SET locked_at = ? WHERE staff_id = ? AND locked_at IS NULL", (now, staff_id)
    )
    return bool(changed)


def clear_failures(tx: Tx, staff_id: str) -> None:
    tx.execute("UPDATE staff SET failed_logins = 0 WHERE staff_id = ?", (staff_id,))


def lift_lockout(tx: Tx, staff_id: str) -> bool:
    """Unlock the account and clear its failures; False when it is not locked (or not there)."""
    changed = tx.execute(
        "UPDATE staff SET locked_at = NULL, failed_logins = 0 WHERE staff_id = ? AND locked_at IS NOT NULL",
        (staff_id,),
    )
    return bool(changed)


# --- second factor --------------------------------------------------------------------------------------


def start_totp_enrolment(tx: Tx, staff_id: str, sealed_seed: str) -> None:
    """The seed shown at enrolment, until confirmed (the password was right: failures cleared)."""
    tx.execute(
        "UPDATE staff SET totp_pending = ?, failed_logins = 0 WHERE staff_id = ?", (sealed_seed, staff_id)
    )


def use_totp_step(tx: Tx, staff_id: str, step: int) -> bool:
    """Mark ``step`` used; False when it (or a later one) was used before."""
    changed = tx.execute(
        "UPDATE staff SET totp_last_step = ? WHERE staff_id = ? AND totp_last_step < ?",
        (step, staff_id, step),
    )
    return changed == 1


def set_totp(tx: Tx, staff_id: str, sealed_seed: str, step: int) -> None:
    """The enrolled seed, its confirming step used."""
    tx.execute(
        "UPDATE staff SET totp_secret = ?, totp_pending = NULL, totp_last_step = ? WHERE staff_id = ?",
        (sealed_seed, step, staff_id),
    )


def forget_totp(tx: Tx, staff_id: str) -> None:
    """No second factor, enrolled or pending."""
    tx.execute(
        "UPDATE staff SET totp_secret = NULL, totp_pending = NULL, totp_last_step = 0 WHERE staff_id = ?",
        (staff_id,),
    )


def delete_recovery_codes(tx: Tx, staff_id: str) -> None:
    tx.execute("DELETE FROM staff_recovery_codes WHERE staff_id = ?", (staff_id,))


def insert_recovery_codes(tx: Tx, staff_id: str, code_hashes: Iterable[str], now: str) -> None:
    tx.executemany(
        "INSERT INTO staff_recovery_codes (code_hash, staff_id, created_at) VALUES (?, ?, ?)",
        [(code_hash, staff_id, now) for code_hash in code_hashes],
    )


def spend_recovery_code(tx: Tx, staff_id: str, code_hash: str, now: str) -> bool:
    """Mark an unused code of theirs used; False when there is none."""
    changed = tx.execute(
        "UPDATE staff_recovery_codes SET used_at = ? WHERE code_hash = ? AND staff_id = ? AND used_at IS NULL",
        (now, code_hash, staff_id),
    )
    return bool(changed)


def recovery_codes_left(tx: Tx, staff_id: str) -> int:
    value = tx.value(
        "SELECT count(*) FROM staff_recovery_codes WHERE staff_id = ? AND used_at IS NULL", (staff_id,)
    )
    return int(value or 0)


# --- sessions -------------------------------------------------------------------------------------------


def insert_session(tx: Tx, token_hash: str, staff_id: str, terminal: str, now: str) -> None:
    tx.execute(
        "INSERT INTO staff_sessions (token_hash, staff_id, terminal, created_at, last_seen_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (token_hash, staff_id, terminal, now, now),
    )


def session(tx: Tx, token_hash: str) -> Row | None:
    """The session of an active account: staff_id, terminal, created_at, last_seen_at and roles."""
    return tx.one(
        "SELECT s.staff_id, s.terminal, s.created_at, s.last_seen_at, t.roles FROM staff_sessions s"
        " JOIN staff t USING (staff_id) WHERE s.token_hash = ? AND t.active = 1",
        (token_hash,),
    )


def touch_session(tx: Tx, token_hash: str, now: str) -> None:
    tx.execute("UPDATE staff_sessions SET last_seen_at = ? WHERE token_hash = ?", (now, token_hash))


def end_session(tx: Tx, token_hash: str) -> None:
    tx.execute("DELETE FROM staff_sessions WHERE token_hash = ?", (token_hash,))


def end_sessions_of(tx: Tx, staff_id: str) -> None:
    tx.execute("DELETE FROM staff_sessions WHERE staff_id = ?", (staff_id,))
