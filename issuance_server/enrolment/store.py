"""The enrolment tables (``kiosks``, ``ops_tokens``): the one place their SQL lives."""

from __future__ import annotations

from typing import Final

from issuance_server.storage.engine import Row, Tx

TABLES: Final = ("kiosks", "ops_tokens")

# --- kiosks ---------------------------------------------------------------------------------------------


def enrol_kiosk(
    tx: Tx, kiosk_id: str, cert_sha256: str, cert_serial: str, cert_not_after: str, location: str, now: str
) -> None:
    """Enrol the kiosk, or re-key it: the certificate given replaces the one before."""
    tx.execute(
        "INSERT INTO kiosks (kiosk_id, cert_sha256, cert_serial, cert_not_after, location, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(kiosk_id) DO UPDATE SET cert_sha256 = excluded.cert_sha256,"
        " cert_serial = excluded.cert_serial, cert_not_after = excluded.cert_not_after,"
        " location = excluded.location, active = 1, removed_at = NULL",
        (kiosk_id, cert_sha256, cert_serial, cert_not_after, location, now),
    )


def remove_kiosk(tx: Tx, kiosk_id: str, now: str) -> bool:
    """Forget the kiosk's certificate; False when no such kiosk is enrolled."""
    changed = tx.execute(
        "UPDATE kiosks SET active = 0, cert_sha256 = NULL, removed_at = ? WHERE kiosk_id = ? AND active = 1",
        (now, kiosk_id),
    )
    return changed == 1


def kiosk_by_certificate(tx: Tx, cert_sha256: str) -> Row | None:
    """The active kiosk whose current certificate has this fingerprint: kiosk_id, cert_not_after."""
    return tx.one(
        "SELECT kiosk_id, cert_not_after FROM kiosks WHERE cert_sha256 = ? AND active = 1", (cert_sha256,)
    )


def kiosks(tx: Tx) -> list[Row]:
    return tx.all(
        "SELECT kiosk_id, location, active, cert_serial, cert_not_after, created_at, removed_at FROM kiosks"
        " ORDER BY kiosk_id"
    )


# --- ops tokens -----------------------------------------------------------------------------------------


def insert_token_once(tx: Tx, name: str, token_hash: str, created_by: str, now: str) -> None:
    """Record a token that never expires, unless one of that name (or hash) is recorded already."""
    tx.execute(
        "INSERT INTO ops_tokens (name, token_hash, created_by, created_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO NOTHING",
        (name, token_hash, created_by, now),
    )


def token_exists(tx: Tx, name: str) -> bool:
    """A token of this name, revoked or not (revoked ones keep their name)."""
    return tx.one("SELECT 1 FROM ops_tokens WHERE name = ?", (name,)) is not None


def insert_token(tx: Tx, name: str, token_hash: str, created_by: str, now: str, expires_at: str) -> None:
    tx.execute(
        "INSERT INTO ops_tokens (name, token_hash, created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?)",
        (name, token_hash, created_by, now, expires_at),
    )


def live_token_by_hash(tx: Tx, token_hash: str) -> Row | None:
    """The unrevoked token with this hash: name, created_by, expires_at."""
    return tx.one(
        "SELECT name, created_by, expires_at FROM ops_tokens WHERE token_hash = ? AND revoked_at IS NULL",
        (token_hash,),
    )


def live_token(tx: Tx, name: str) -> Row | None:
    """The unrevoked token of this name: created_by, expires_at."""
    return tx.one(
        "SELECT created_by, expires_at FROM ops_tokens WHERE name = ? AND revoked_at IS NULL", (name,)
    )


def token_hash_of(tx: Tx, name: str) -> str | None:
    value = tx.value("SELECT token_hash FROM ops_tokens WHERE name = ?", (name,))
    return None if value is None else str(value)


def tokens(tx: Tx) -> list[Row]:
    return tx.all(
        "SELECT name, created_by, created_at, expires_at, revoked_by, revoked_at FROM ops_tokens ORDER BY name"
    )


def revoke_token(tx: Tx, name: str, by: str, now: str) -> bool:
    """False when there is no unrevoked token of this name."""
    changed = tx.execute(
        "UPDATE ops_tokens SET revoked_by = ?, revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
        (by, now, name),
    )
    return bool(changed)


def replace_token(tx: Tx, name: str, token_hash: str, now: str) -> bool:
    """A new token under an unrevoked name (a rotation); False when there is none."""
    changed = tx.execute(
        "UPDATE ops_tokens SET token_hash = ?, created_at = ? WHERE name = ? AND revoked_at IS NULL",
        (token_hash, now, name),
    )
    return bool(changed)
