"""Linking a resident's smartphone (スマホ用電子証明書) at the desk: the registered card on the desk reader and
its PIN on the customer display first, then the phone held over the same reader and its PIN (an Android
phone's own, verified on the phone; for an iPhone, one the resident chooses). The clerk's page follows it as
a card registration (the desk's one slot, the same progress page and cancel)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from typing import Final

from aiohttp import web
from cryptography import x509

from devices.card.errors import CardError, CertificateNeedsPin
from registration.desk.keys import API, ENTRY, PIN_WAIT_S, READER
from registration.desk.pages.card import connect_reader, failure_said, read_certificate, start_in_slot
from registration.desk.registering import Registering
from registration.desk.words import label, say
from wire.card_identity import challenge_digest

routes = web.RouteTableDef()
log = logging.getLogger("konbini.desk")
PHONE_WAIT_S: Final = 60.0  # the resident takes the card back and holds the phone meanwhile


class PhoneNotHeld(Exception):
    """No phone came on the reader in time (or the card stayed there)."""


def _sign_with_card(reader: str | None, pin: str, challenge: bytes) -> bytes:
    with connect_reader(reader) as card:
        card.verify_pin(pin)
        return card.sign_digest(challenge_digest(challenge))


def _wait_for_phone(reader: str | None, card_certificate: bytes) -> bytes | None:
    """The credential that replaces the card on the reader: its certificate, or None for an Android phone
    (shown after its PIN). PhoneNotHeld after ``PHONE_WAIT_S`` with the card still there, or nothing."""
    deadline = time.monotonic() + PHONE_WAIT_S
    while time.monotonic() < deadline:
        try:
            with connect_reader(reader) as held:
                try:
                    certificate = held.read_auth_certificate()
                except CertificateNeedsPin:
                    return None
            if certificate != card_certificate:
                return certificate
        except CardError:
            pass  # nothing on the reader yet (or taken away mid-read)
        time.sleep(0.3)
    raise PhoneNotHeld


def _sign_with_phone(reader: str | None, pin: str | None, challenge: bytes) -> tuple[bytes, bytes]:
    """The phone's certificate and its signature over the challenge (after its PIN: an Android phone)."""
    with connect_reader(reader) as phone:
        if pin is not None:
            phone.verify_pin(pin)
        return phone.read_auth_certificate(), phone.sign_digest(challenge_digest(challenge))


@routes.post("/residents/{atena_no}/phones")
async def link_phone(request: web.Request) -> web.Response:
    """Start linking a phone; the clerk's page follows it at ``GET .../register`` and may cancel it."""
    return await start_in_slot(request, _link, linking=True)


async def _link(app: web.Application, token: str, registering: Registering) -> None:
    """The link's work; its outcome (and ``ok``) on ``registering``, whatever happens."""
    entry, reader, api, wait = app[ENTRY], app[READER], app[API], app[PIN_WAIT_S]
    b64 = lambda data: base64.b64encode(data).decode()  # noqa: E731
    try:
        card_certificate = await asyncio.to_thread(read_certificate, reader)
        card_pin = await asyncio.wait_for(entry.ask("card_pin"), wait)
        asked = await api.call("POST", "/clerk/api/registrations/challenge", token=token)
        challenge = base64.b64decode(asked["challenge"])
        card_signature = await asyncio.to_thread(_sign_with_card, reader, card_pin, challenge)
        entry.show("phone")
        shown = await asyncio.to_thread(_wait_for_phone, reader, card_certificate)
        if shown is not None and _same_issuer(shown, card_certificate):
            entry.finish(False)
            registering.outcome = say("desk.phone_is_the_card")
            return
        android = shown is None  # its own PIN, verified on it; an iPhone's is chosen now
        phone_pin = await asyncio.wait_for(entry.ask("phone_pin" if android else "phone_new"), wait)
        phone_certificate, phone_signature = await asyncio.to_thread(
            _sign_with_phone, reader, phone_pin if android else None, challenge
        )
        body = {
            "atena_no": registering.atena_no, "challenge": b64(challenge),
            "card_certificate": b64(card_certificate), "card_signature": b64(card_signature), "card_pin": card_pin,
            "phone_certificate": b64(phone_certificate), "phone_signature": b64(phone_signature),
            "phone_pin": phone_pin,
        }  # fmt: skip
        linked = await api.call("POST", "/clerk/api/registrations/phones", token=token, body=body)
    except TimeoutError:
        entry.cancel()
        registering.outcome = say("desk.pin_not_entered")
        return
    except Exception as exc:
        entry.finish(False)
        registering.outcome = (
            say("desk.phone_not_held")
            if isinstance(exc, PhoneNotHeld)
            else failure_said(exc, "linking a phone")
        )
        return
    entry.finish(True)
    registering.ok = True
    registering.outcome = say(
        "desk.phone_linked", form=label(linked["form"], "form"), serial=linked["cert_serial"]
    )


def _same_issuer(certificate: bytes, card_certificate: bytes) -> bool:
    """A second card rather than a phone (the card CA issued both): said before any PIN is asked."""
    issuer = x509.load_der_x509_certificate(certificate).issuer
    return issuer == x509.load_der_x509_certificate(card_certificate).issuer
