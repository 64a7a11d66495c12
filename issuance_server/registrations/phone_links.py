"""Linking a phone (スマホ用電子証明書) to a resident whose card is registered: a second credential with its own
registered PIN, suspended or revoked on its own, revoked with the card it was linked with when a new card is
registered (:func:`store.revoke_replaced`).

At the desk (:func:`link_at_desk`) the card and the phone each sign the registration's one-time challenge
(the card after its PIN), and the card's registered PIN is checked as at a kiosk (a wrong one counts against
the resident). At a kiosk (:func:`link_at_kiosk`) the session signed in with the card and its PIN; the
phone signs the session's link digest. Either way the phone's own PIN becomes its registered PIN (an Android
phone verified it itself before it signed; an iPhone's is chosen by the resident)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from issuance_server.api_errors import ApiError
from issuance_server.audit.trail import Actor
from issuance_server.core import ServerCore
from issuance_server.registrations import store
from issuance_server.registrations.card_auth import CardIdentity
from issuance_server.registrations.card_registration import check_pin_format, writable
from issuance_server.registrations.pin_attempts import PinCheck, check_pin
from issuance_server.secret_hashing import PIN
from issuance_server.storage.engine import Tx
from wire import card_identity
from wire.clock import to_iso, utc_now, utc_now_iso
from wire.credentials import Form
from wire.kiosk_api import ErrorCode


@dataclass(frozen=True)
class LinkProof:
    """What the desk read for one link: both certificates and their signatures over the challenge."""

    card_certificate: bytes
    card_signature: bytes
    phone_certificate: bytes
    phone_signature: bytes


def _signed(cert: x509.Certificate, digest: bytes, signature: bytes, what: str) -> None:
    key = cert.public_key()
    try:
        if not isinstance(key, rsa.RSAPublicKey):
            raise InvalidSignature
        key.verify(signature, digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
    except InvalidSignature:
        raise ApiError(
            409, "card_not_present", f"the {what} did not sign this link's challenge: read it again",
            field=f"{what}_signature",
        ) from None  # fmt: skip


def _phone(core: ServerCore, der: bytes, digest: bytes, signature: bytes) -> CardIdentity:
    cert, phone = core.credentials.check_certificate(der, utc_now())
    if phone.form is Form.CARD:
        raise ApiError(
            409, "not_a_phone", "this is a card, not a phone: hold the phone to link over the reader"
        )
    _signed(cert, digest, signature, "phone")
    return phone


async def link_at_desk(
    core: ServerCore, actor: Actor, atena_no: str, card_pin: str, phone_pin: str, proof: LinkProof,
    challenge: bytes,
) -> dict[str, Any]:  # fmt: skip
    """The resident's registered card (its PIN checked) and the phone on the desk reader, both signing
    ``challenge`` (taken by the caller): the phone linked with ``phone_pin``."""
    writable(core)
    check_pin_format(card_pin)
    check_pin_format(phone_pin, "phone_pin")
    digest = card_identity.challenge_digest(challenge)
    try:
        cert, card = core.credentials.check_certificate(proof.card_certificate, utc_now())
        if card.form is not Form.CARD:
            raise ApiError(409, "not_a_card", "read the resident's registered card first, then the phone")
        _signed(cert, digest, proof.card_signature, "card")
        phone = _phone(core, proof.phone_certificate, digest, proof.phone_signature)
    except ApiError as exc:
        await core.audit.append(actor, "link_phone", f"refused_{exc.code}", atena_no)
        raise

    def record(tx: Tx, check: PinCheck) -> None:
        lock = {"locked_now": True} if check.locked_now else {}
        if check.result != "ok":
            core.audit.record(tx, actor, "link_phone", check.result, check.atena_no, card=card.serial, **lock)

    check = await check_pin(core, card.fingerprint, card_pin, record)
    if check.result != "ok" or check.atena_no != atena_no or check.registration_id is None:
        raise _pin_refusal(check, atena_no)
    return await _link(
        core, actor, atena_no, check.registration_id, phone, phone_pin, card.serial, at_desk=True
    )


async def link_at_kiosk(
    core: ServerCore, actor: Actor, atena_no: str, card_registration: int, der: bytes, signature: bytes,
    digest: bytes, phone_pin: str,
) -> dict[str, Any]:  # fmt: skip
    """A kiosk session signed in with ``card_registration`` (a card): the phone that signed ``digest`` linked."""
    if not core.settings.kiosk_phone_linking:
        raise ApiError(403, "phone_linking_off", "this city links phones at the city hall's desk only")
    writable(core)
    check_pin_format(phone_pin, "pin")
    try:
        if await core.db.read(lambda tx: store.form_of(tx, card_registration)) != Form.CARD.value:
            raise ApiError(409, "not_a_card", "a phone is linked in a session signed in with the card")
        phone = _phone(core, der, digest, signature)
    except ApiError as exc:
        await core.audit.append(actor, "link_phone", f"refused_{exc.code}", atena_no)
        raise
    return await _link(core, actor, atena_no, card_registration, phone, phone_pin, None, at_desk=False)


def _pin_refusal(check: PinCheck, atena_no: str) -> ApiError:
    if check.result == ErrorCode.PIN_WRONG:
        return ApiError(
            401, ErrorCode.PIN_WRONG, f"the card's registered PIN is wrong; {check.tries_left} tries left",
            tries_left=check.tries_left, field="card_pin",
        )  # fmt: skip
    if check.result == "ok":  # the card is registered to someone else
        return ApiError(409, "card_registered_to_other", "this card is registered to another resident")
    if check.result == ErrorCode.CARD_NOT_REGISTERED:
        return ApiError(
            409, check.result, f"register the card for resident {atena_no} first, then link phones"
        )
    return ApiError(403, check.result, "the card's registration is not active: unlock or resume it first")


async def _link(
    core: ServerCore, actor: Actor, atena_no: str, card_registration: int, phone: CardIdentity, pin: str,
    card_serial: str | None, *, at_desk: bool,
) -> dict[str, Any]:  # fmt: skip
    """Bind the phone. A phone of another resident is refused; one of this resident that a clerk suspended or
    revoked, or that is locked, is linked again only at the desk (a kiosk must not undo a clerk's decision)."""
    pin_hash = await core.hasher.hash(PIN, pin)
    now = utc_now_iso()

    def bind(tx: Tx) -> str:
        existing = store.by_card(tx, phone.fingerprint)
        if existing is not None and existing["atena_no"] != atena_no and existing["status"] != "revoked":
            return "phone_registered_to_other"
        if (
            existing is not None
            and existing["atena_no"] == atena_no
            and existing["status"] != "active"
            and not at_desk
        ):
            return "phone_not_active"
        store.bind_phone(
            tx,
            {
                "atena_no": atena_no, "card_fingerprint": phone.fingerprint, "card_serial": phone.serial,
                "cert_serial": phone.cert_serial, "card_not_after": to_iso(phone.not_after), "pin_hash": pin_hash,
                "form": phone.form.value, "linked_card": card_registration, "registered_by": actor.actor_id,
                "now": now,
            },
        )  # fmt: skip
        core.audit.record(
            tx, actor, "link_phone", "ok", atena_no, form=phone.form.value, phone=phone.cert_serial,
            **({} if card_serial is None else {"card": card_serial}),
        )  # fmt: skip
        return "ok"

    result = await core.db.write(bind)
    if result != "ok":
        await core.audit.append(actor, "link_phone", result, atena_no, phone=phone.cert_serial)
        if result == "phone_not_active":
            raise ApiError(
                409,
                result,
                "this phone was suspended, revoked or locked at the city hall: it is linked again there",
            )
        raise ApiError(409, result, "this phone is linked to another resident")
    return {
        "atena_no": atena_no,
        "form": phone.form.value,
        "cert_serial": phone.cert_serial,
        "status": "active",
    }
