"""Registering a resident's card and kiosk PIN (利用者登録), and unlocking or suspending it.

A registrar alone cannot bind a card to another person: the registration carries the card's own identity
(its 券面事項入力補助 application's files, read at the desk after the resident typed that application's PIN)
and the server refuses it unless the card issuer's signature holds and the four fields match the resident's
record (``identity_mismatch``, audited). See :mod:`wire.card_identity`."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa

from issuance_server import card_auth
from issuance_server.api_errors import ApiError
from issuance_server.audit import Actor
from issuance_server.clock import to_iso, utc_now, utc_now_iso
from issuance_server.core import ServerCore
from issuance_server.replica_store import Replica
from issuance_server.secret_hashing import PIN
from wire import card_identity


def check_pin_format(pin: str) -> None:
    if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
        raise ApiError(400, "bad_field", "the PIN must be exactly 4 digits", field="pin")


def _writable(core: ServerCore) -> None:
    if core.mode == "recovery":
        raise ApiError(
            409, "read_only_mode", "registrations wait until the main registry is back (recovery mode)"
        )


def _card_identity(core: ServerCore, files: tuple[bytes, bytes]) -> card_identity.CardIdentity:
    issuer = core.card_trust.ca.public_key()
    if not isinstance(issuer, rsa.RSAPublicKey):
        raise ApiError(503, "card_ca_unusable", "the card CA's key is not RSA: identities cannot be checked")
    try:
        return card_identity.verified_identity(*files, issuer)
    except card_identity.IdentityError as exc:
        raise ApiError(
            409, "identity_unverified", f"the card's identity data do not verify: {exc}", field="identity"
        ) from None


async def register_card(
    core: ServerCore, actor: Actor, atena_no: str, cert_der: bytes, pin: str, identity: tuple[bytes, bytes]
) -> dict[str, Any]:
    """``identity``: the card's identity files as read (EF 0002, EF 0003 of its 券面事項入力補助 app)."""
    _writable(core)
    check_pin_format(pin)
    _cert, card = core.card_trust.check_certificate(cert_der, utc_now())
    try:
        held = _card_identity(core, identity)
    except ApiError as exc:
        await core.audit.append(actor, "register_card", f"refused_{exc.code}", atena_no, card=card.serial)
        raise
    if not core.replica.ready:
        raise ApiError(503, "replica_not_loaded", "the resident replica is not loaded yet; run a sync")
    pin_hash = await core.hasher.hash(PIN, pin)
    now = utc_now_iso()
    async with core.db.transaction(write=False) as tx:
        person = await Replica.resident(tx, atena_no)
        if person is None or person["status"] != "resident":
            raise ApiError(404, "resident_not_found", "no current resident with this 宛名番号")
        differ = card_identity.mismatches(
            held, person["name"], person["address"], person["birth_date"], person["sex"]
        )
    if differ:  # audited outside the transaction the refusal rolls back
        await core.audit.append(
            actor, "register_card", "refused_identity_mismatch", atena_no, card=card.serial, fields=differ
        )
        raise ApiError(
            409, "identity_mismatch",
            f"the card belongs to someone else: its {', '.join(differ)} differ from this resident's record",
            fields=differ,
        )  # fmt: skip
    replaced = await _bind(core, actor, atena_no, card, pin_hash, now)
    if replaced is None:  # audited outside the transaction the refusal would roll back
        await core.audit.append(
            actor, "register_card", "card_registered_to_other", atena_no, card=card.serial
        )
        raise ApiError(409, "card_registered_to_other", "this card is registered to another resident")
    return {
        "atena_no": atena_no,
        "card_id": card.serial,
        "status": "active",
        "replaced_registrations": replaced,
    }


async def _bind(
    core: ServerCore, actor: Actor, atena_no: str, card: card_auth.CardIdentity, pin_hash: str, now: str
) -> int | None:
    """Register the card for the resident (their other cards revoked): how many were replaced, or None
    when the card is registered to someone else (nothing written)."""
    async with core.db.transaction() as tx:
        existing = await tx.fetchone(
            "SELECT atena_no, status FROM registrations WHERE card_fingerprint = ?", (card.fingerprint,)
        )
        if existing is not None and existing["atena_no"] != atena_no and existing["status"] != "revoked":
            return None
        replaced = await tx.execute(
            "UPDATE registrations SET status = 'revoked', updated_at = ?"
            " WHERE atena_no = ? AND card_fingerprint != ? AND status != 'revoked'",
            (now, atena_no, card.fingerprint),
        )
        await tx.execute(
            "INSERT INTO registrations (atena_no, card_fingerprint, card_serial, card_not_after, pin_hash, status,"
            " failures, registered_by, registered_at, updated_at) VALUES (?, ?, ?, ?, ?, 'active', 0, ?, ?, ?)"
            " ON CONFLICT(card_fingerprint) DO UPDATE SET atena_no = excluded.atena_no, pin_hash = excluded.pin_hash,"
            " status = 'active', failures = 0, registered_by = excluded.registered_by, updated_at = excluded.updated_at",
            (
                atena_no,
                card.fingerprint,
                card.serial,
                to_iso(card.not_after),
                pin_hash,
                actor.actor_id,
                now,
                now,
            ),
        )
        await core.audit.append_in(
            tx,
            actor,
            "register_card",
            "ok",
            atena_no,
            card=card.serial,
            replaced=replaced,
            identity="matched",
        )
    return replaced


async def set_status(core: ServerCore, actor: Actor, atena_no: str, action: str, reason: str = "") -> int:
    """unlock: locked -> active (failures cleared); suspend: active/locked -> suspended; resume: suspended ->
    active; revoke (a lost card, for good: a new card is registered instead): any but revoked -> revoked."""
    transitions = {
        "unlock": ("active", ("locked",)),
        "suspend": ("suspended", ("active", "locked")),
        "resume": ("active", ("suspended",)),
        "revoke": ("revoked", ("active", "locked", "suspended")),
    }
    new, allowed = transitions[action]
    marks = ",".join("?" * len(allowed))
    async with core.db.transaction() as tx:
        changed = await tx.execute(
            f"UPDATE registrations SET status = ?, failures = 0, updated_at = ? WHERE atena_no = ? AND status IN ({marks})",  # noqa: S608  table, column and placeholder text from constants; values are bound
            (new, utc_now_iso(), atena_no, *allowed),
        )
        await core.audit.append_in(
            tx, actor, action, "ok" if changed else "nothing_to_change", atena_no, reason=reason
        )
    if not changed:
        done = {"revoke": "revoked"}.get(action, f"{action}ed")
        raise ApiError(409, "nothing_to_change", f"no registration of this resident can be {done}")
    return changed


async def registrations_of(core: ServerCore, atena_no: str) -> list[dict[str, Any]]:
    rows = await core.db.fetchall(
        "SELECT card_serial, status, failures, registered_at, updated_at FROM registrations WHERE atena_no = ?"
        " ORDER BY registration_id",
        (atena_no,),
    )
    return [dict(r) for r in rows]
