"""Registering a resident's card and kiosk PIN (利用者登録), and unlocking or suspending it.

A registrar alone cannot bind a card to another person: the registration carries the card's own identity
(its 券面事項入力補助 application's files, read at the desk after the resident typed that application's PIN)
and the server refuses it unless the card issuer's signature holds and the four fields match the resident's
record (``identity_mismatch``, audited). Both of the card's keys (its identity application's and its JPKI
authentication key) sign a one-time challenge the server issued for this registration, so files or a
certificate seen once cannot be sent again without the card itself. See :mod:`wire.card_identity`."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from issuance_server.api_errors import ApiError
from issuance_server.audit.trail import Actor
from issuance_server.core import ServerCore
from issuance_server.registrations import card_auth, store
from issuance_server.replica import store as replica
from issuance_server.secret_hashing import PIN
from issuance_server.storage.engine import Tx
from wire import card_identity
from wire.clock import to_iso, utc_now, utc_now_iso
from wire.kiosk_api import Mode


def check_pin_format(pin: str, name: str = "pin") -> None:
    if len(pin) != 4 or not pin.isascii() or not pin.isdigit():
        raise ApiError(400, "bad_field", "the PIN must be exactly 4 digits", field=name)


def writable(core: ServerCore) -> None:
    if core.mode == Mode.RECOVERY:
        raise ApiError(
            409, "read_only_mode", "registrations wait until the main registry is back (recovery mode)"
        )


CHALLENGE_TTL_S = 300.0  # the clerk reads the card and the resident types two PINs meanwhile


@dataclass
class Challenges:
    """One-time registration challenges, each for the staff member it was issued to (in this process)."""

    clock: Callable[[], float] = time.monotonic
    open: dict[bytes, tuple[str, float]] = field(default_factory=dict)

    def issue(self, staff_id: str) -> bytes:
        now = self.clock()
        self.open = {c: v for c, v in self.open.items() if v[1] > now}  # forget the expired
        challenge = secrets.token_bytes(32)
        self.open[challenge] = (staff_id, now + CHALLENGE_TTL_S)
        return challenge

    def take(self, challenge: bytes, staff_id: str) -> None:
        issued = self.open.pop(challenge, None)
        if issued is None or issued[0] != staff_id or issued[1] <= self.clock():
            raise ApiError(
                409, "challenge_unknown", "ask for a new registration challenge (each is used once, for 5 minutes)",
                field="challenge",
            )  # fmt: skip


@dataclass(frozen=True)
class CardProof:
    """What the desk read from the card for one registration."""

    certificate: bytes  # the JPKI authentication certificate (DER)
    card_signature: bytes  # its key's signature over the challenge
    basic_four: bytes  # the identity application's EF 0002
    identity_signed: bytes  # its EF 0003
    identity_signature: bytes  # its key's signature over the challenge


def _card_identity(core: ServerCore, proof: CardProof, challenge: bytes) -> card_identity.CardIdentity:
    issuer = core.card_trust.ca.public_key()
    if not isinstance(issuer, rsa.RSAPublicKey):
        raise ApiError(503, "card_ca_unusable", "the card CA's key is not RSA: identities cannot be checked")
    try:
        held = card_identity.verified_identity(proof.basic_four, proof.identity_signed, issuer)
        card_identity.check_presence(proof.identity_signed, challenge, proof.identity_signature)
        return held
    except card_identity.IdentityError as exc:
        raise ApiError(
            409, "identity_unverified", f"the card's identity data do not verify: {exc}", field="identity"
        ) from None


def _check_card_signature(cert: x509.Certificate, challenge: bytes, signature: bytes) -> None:
    key = cert.public_key()
    try:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        digest = card_identity.challenge_digest(challenge)
        key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise ApiError(
            409, "card_not_present", "the card did not sign this registration's challenge: read it again",
            field="card_signature",
        ) from None  # fmt: skip


async def register_card(
    core: ServerCore, actor: Actor, atena_no: str, pin: str, proof: CardProof, challenge: bytes
) -> dict[str, Any]:
    """``proof``: what the desk read from the card for ``challenge`` (taken by the caller)."""
    writable(core)
    check_pin_format(pin)
    cert, card = core.card_trust.check_certificate(proof.certificate, utc_now())
    try:
        _check_card_signature(cert, challenge, proof.card_signature)
        held = _card_identity(core, proof, challenge)
    except ApiError as exc:
        await core.audit.append(actor, "register_card", f"refused_{exc.code}", atena_no, card=card.serial)
        raise
    if not core.replica.ready:
        raise ApiError(503, "replica_not_loaded", "the resident replica is not loaded yet; run a sync")
    pin_hash = await core.hasher.hash(PIN, pin)
    now = utc_now_iso()
    person = await core.db.read(lambda tx: replica.resident(tx, atena_no))
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

    def bind(tx: Tx) -> int | None:
        existing = store.by_card(tx, card.fingerprint)
        if existing is not None and existing["atena_no"] != atena_no and existing["status"] != "revoked":
            return None
        replaced = store.revoke_replaced(tx, atena_no, card.fingerprint, now)
        store.bind_card(
            tx,
            {
                "atena_no": atena_no, "card_fingerprint": card.fingerprint, "card_serial": card.serial,
                "cert_serial": card.cert_serial, "card_not_after": to_iso(card.not_after), "pin_hash": pin_hash,
                "registered_by": actor.actor_id, "now": now,
            },
        )  # fmt: skip
        core.audit.record(
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

    return await core.db.write(bind)


async def set_status(
    core: ServerCore,
    actor: Actor,
    atena_no: str,
    action: str,
    reason: str = "",
    registration_id: int | None = None,
) -> int:
    """unlock: locked -> active, the resident's wrong PINs cleared (all their credentials: the count is
    theirs); suspend: active/locked -> suspended; resume: suspended -> active (wrong PINs cleared); revoke (a
    lost card or phone, for good): any but revoked -> revoked. ``registration_id``: only that credential (a
    lost phone does not stop the card), else all of the resident's."""
    transitions = {
        "unlock": ("active", ("locked",)),
        "suspend": ("suspended", ("active", "locked")),
        "resume": ("active", ("suspended",)),
        "revoke": ("revoked", ("active", "locked", "suspended")),
    }
    new, allowed = transitions[action]

    one = None if action == "unlock" else registration_id

    def change(tx: Tx) -> int:
        now = utc_now_iso()
        changed = store.set_status(tx, atena_no, new, allowed, now, one)
        if changed and action in ("unlock", "resume"):  # one credential resumed: its own count only
            store.reset_failures(tx, atena_no, now, one)
        which = {} if one is None else {"registration": one}
        core.audit.record(
            tx, actor, action, "ok" if changed else "nothing_to_change", atena_no, reason=reason, **which
        )
        return changed

    changed = await core.db.write(change)
    if not changed:
        done = {"unlock": "unlocked", "suspend": "suspended", "resume": "resumed", "revoke": "revoked"}[
            action
        ]
        raise ApiError(409, "nothing_to_change", f"no registration of this resident can be {done}")
    return changed


async def registrations_of(core: ServerCore, atena_no: str) -> list[dict[str, Any]]:
    return [dict(r) for r in await core.db.read(lambda tx: store.of_resident(tx, atena_no))]
