"""The ``kiosks`` table: which kiosk certificates may use the kiosk API (its SQL in :mod:`issuance_server.enrolment.store`).

A kiosk is enrolled (``konbini-ops kiosk-add``) with a client certificate from the kiosk CA; the table keeps
that certificate's fingerprint, so enrolling again replaces it and removing the kiosk (``kiosk-remove``)
refuses it on the next request, whatever its validity dates say.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance_server.audit.trail import Actor, append_sync
from issuance_server.enrolment import store
from issuance_server.storage.database import Database
from issuance_server.storage.engine import Tx
from wire.clock import utc_now_iso
from wire.tls import fingerprint

if TYPE_CHECKING:
    from issuance_server.core import ServerCore


async def enrol(core: ServerCore, actor: Actor, kiosk_id: str, location: str, cert: x509.Certificate) -> None:
    """Enrol (or re-key) the kiosk with ``cert``, audited."""
    sha256 = fingerprint(cert.public_bytes(serialization.Encoding.DER))
    serial, not_after = format(cert.serial_number, "x"), cert.not_valid_after_utc.isoformat()
    now, key = utc_now_iso(), core.secrets.audit_chain_key

    def enrolled(tx: Tx) -> None:
        store.enrol_kiosk(tx, kiosk_id, sha256, serial, not_after, location, now)
        append_sync(tx, key, actor, "kiosk_enrol", "ok", None, kiosk_id=kiosk_id)

    await core.db.write(enrolled)


async def remove(core: ServerCore, actor: Actor, kiosk_id: str) -> bool:
    """Refuse the kiosk's certificate from now on (audited); False when no such kiosk is enrolled."""
    now, key = utc_now_iso(), core.secrets.audit_chain_key

    def removed(tx: Tx) -> bool:
        if not store.remove_kiosk(tx, kiosk_id, now):
            return False
        append_sync(tx, key, actor, "kiosk_remove", "ok", None, kiosk_id=kiosk_id)
        return True

    return await core.db.write(removed)


async def kiosk_of(db: Database, cert_der: bytes) -> str | None:
    """The enrolled, active kiosk whose current certificate this is (one read: every kiosk request asks)."""
    sha256 = fingerprint(cert_der)
    row = await db.read(lambda tx: store.kiosk_by_certificate(tx, sha256))
    if row is None or datetime.fromisoformat(row["cert_not_after"]) <= datetime.now(UTC):
        return None
    return str(row["kiosk_id"])


async def listing(db: Database) -> list[dict[str, Any]]:
    rows = await db.read(store.kiosks)
    return [{**dict(r), "active": bool(r["active"])} for r in rows]
