"""The ``kiosks`` table: which kiosk certificates may use the kiosk API (its SQL in :mod:`issuance_server.enrolment.store`).

A kiosk is enrolled (``konbini-ops kiosk-add``) with a client certificate from the kiosk CA; the table keeps
that certificate's fingerprint, so enrolling again replaces it and removing the kiosk (``kiosk-remove``)
refuses it on the next request, whatever its validity dates say (:class:`EnrolledKiosks`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from issuance_server.audit.trail import Actor, append_sync
from issuance_server.enrolment import store
from issuance_server.storage.engine import Engine, Tx
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
    core.enrolled_kiosks.forget()


async def remove(core: ServerCore, actor: Actor, kiosk_id: str) -> bool:
    """Refuse the kiosk's certificate from now on (audited); False when no such kiosk is enrolled."""
    now, key = utc_now_iso(), core.secrets.audit_chain_key

    def removed(tx: Tx) -> bool:
        if not store.remove_kiosk(tx, kiosk_id, now):
            return False
        append_sync(tx, key, actor, "kiosk_remove", "ok", None, kiosk_id=kiosk_id)
        return True

    done = await core.db.write(removed)
    core.enrolled_kiosks.forget()
    return done


# How long a kiosk certificate found current in ``kiosks`` is taken as current without reading it again.
RECHECK_S: Final = 2.0


class EnrolledKiosks:
    """The kiosk certificates checked against ``kiosks``, remembered for :data:`RECHECK_S`: a kiosk's
    requests come in bursts (eight in a session), and one read serves a burst. An enrolment or a removal
    made through this server forgets them all, so it takes effect on the kiosk's next request; one made
    through another server sharing the database takes effect within :data:`RECHECK_S`. A certificate's
    end of validity is checked on every request."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._known: dict[str, tuple[str, datetime, float]] = {}  # fingerprint: kiosk, not after, checked
        self._generation = 0  # counts forget(): a read begun before one is not remembered

    async def kiosk_of(self, db: Engine, cert_der: bytes) -> str | None:
        """The enrolled, active kiosk whose current certificate this is."""
        sha256 = fingerprint(cert_der)
        known = self._known.get(sha256)
        if known is None or self._clock() - known[2] > RECHECK_S:
            generation, checked = self._generation, self._clock()
            row = await db.read(lambda tx: store.kiosk_by_certificate(tx, sha256))
            if row is None:
                self._known.pop(sha256, None)
                return None
            known = (str(row["kiosk_id"]), datetime.fromisoformat(row["cert_not_after"]), checked)
            if generation == self._generation:
                self._known[sha256] = known
        return known[0] if known[1] > datetime.now(UTC) else None

    def forget(self) -> None:
        self._known.clear()
        self._generation += 1


async def listing(db: Engine) -> list[dict[str, Any]]:
    rows = await db.read(store.kiosks)
    return [{**dict(r), "active": bool(r["active"])} for r in rows]
