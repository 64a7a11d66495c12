"""The ``kiosks`` table: which kiosk certificates may use the kiosk API (this module holds its SQL).

A kiosk is enrolled (``konbini-ops kiosk-add``) with a client certificate from the kiosk CA; the table keeps
that certificate's fingerprint, so enrolling again replaces it and removing the kiosk (``kiosk-remove``)
refuses it on the next request, whatever its validity dates say.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance_server.storage.database import Database, Transaction
from wire.clock import utc_now_iso
from wire.tls import fingerprint


async def enrol(tx: Transaction, kiosk_id: str, location: str, cert: x509.Certificate) -> None:
    await tx.execute(
        "INSERT INTO kiosks (kiosk_id, cert_sha256, cert_serial, cert_not_after, location, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(kiosk_id) DO UPDATE SET cert_sha256 = excluded.cert_sha256,"
        " cert_serial = excluded.cert_serial, cert_not_after = excluded.cert_not_after,"
        " location = excluded.location, active = 1, removed_at = NULL",
        (
            kiosk_id,
            fingerprint(cert.public_bytes(serialization.Encoding.DER)),
            format(cert.serial_number, "x"),
            cert.not_valid_after_utc.isoformat(),
            location,
            utc_now_iso(),
        ),
    )


async def remove(tx: Transaction, kiosk_id: str) -> bool:
    """Refuse the kiosk's certificate from now on; False when no such kiosk is enrolled."""
    changed = await tx.execute(
        "UPDATE kiosks SET active = 0, cert_sha256 = NULL, removed_at = ? WHERE kiosk_id = ? AND active = 1",
        (utc_now_iso(), kiosk_id),
    )
    return changed == 1


async def kiosk_of(db: Database, cert_der: bytes) -> str | None:
    """The enrolled, active kiosk whose current certificate this is."""
    row = await db.fetchone(
        "SELECT kiosk_id, cert_not_after FROM kiosks WHERE cert_sha256 = ? AND active = 1",
        (fingerprint(cert_der),),
    )
    if row is None or datetime.fromisoformat(row["cert_not_after"]) <= datetime.now(UTC):
        return None
    return str(row["kiosk_id"])


async def listing(db: Database) -> list[dict[str, Any]]:
    rows = await db.fetchall(
        "SELECT kiosk_id, location, active, cert_serial, cert_not_after, created_at, removed_at FROM kiosks"
        " ORDER BY kiosk_id"
    )
    return [{**dict(r), "active": bool(r["active"])} for r in rows]
