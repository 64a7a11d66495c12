"""The kiosk engine with a phone on the reader (スマホ用電子証明書), with in-process fakes: an iPhone that
verified its owner goes straight to the menu unless the city asks its PIN, an Android phone shows its
certificate after its PIN, and a resident signed in with the card links a phone from the menu."""

from __future__ import annotations

from typing import Any

import pytest

from devices.card.errors import PinBlocked, WrongPin
from devices.card.virtual.ca import init_ca, issue_card
from devices.card.virtual.state import load_state
from kiosk.engine import KioskEngine
from kiosk.payment import SimulatedPaymentDevice
from kiosk.session_steps import Step, StepError
from tests.kiosk.test_engine import CARD_DER, ISSUING_KEY, Clock, FakePrinter, FakeServer, settle
from wire.credentials import DEMO_POLICY_OIDS, Form
from wire.http_json import HttpError


@pytest.fixture(scope="module")
def phone_certs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """A phone certificate of each form from a demo smartphone CA (their policy OIDs name the form)."""
    ca = tmp_path_factory.mktemp("phone-ca")
    init_ca(ca, phone=True)
    certs = {}
    for form in (Form.ANDROID, Form.IPHONE):
        issue_card(ca, ca / f"{form}.json", "2468", form=form)
        certs[form.value] = load_state(ca / f"{form}.json").certificate_der
    return certs


class PhoneServer(FakeServer):
    """The fake server, naming the phone forms and their PIN policy at session open."""

    def __init__(self, iphone_pin: str = "on_device") -> None:
        super().__init__()
        self.iphone_pin = iphone_pin
        self.signed_in: list[tuple[bytes, str | None]] = []
        self.linked: list[tuple[bytes, str]] = []
        self.auth_error: HttpError | None = None

    async def open_session(self) -> dict[str, Any]:
        opened = await super().open_session()
        phones = [
            {"form": "android", "policy_oid": DEMO_POLICY_OIDS[Form.ANDROID], "pin": "required"},
            {"form": "iphone", "policy_oid": DEMO_POLICY_OIDS[Form.IPHONE], "pin": self.iphone_pin},
        ]
        return {**opened, "phones": phones, "phone_linking": True}

    async def authenticate(self, *args: Any) -> dict[str, Any]:
        if self.auth_error is not None:
            raise self.auth_error
        _session, _nonce, certificate, _signature, pin = args
        self.signed_in.append((certificate, pin))
        return {"authenticated": True}

    async def link_phone(
        self, session_id: str, cert_der: bytes, signature: bytes, pin: str
    ) -> dict[str, Any]:
        self.linked.append((cert_der, pin))
        return {"form": "android", "status": "active"}


class Credential:
    """What is on the reader: a card (its certificate shown at once), an Android phone (shown after its
    PIN) or an iPhone (no PIN on the phone)."""

    def __init__(self, certificate: bytes, form: str = "card") -> None:
        self.certificate, self.form = certificate, form
        self.verified: list[str] = []
        self.pin_errors: list[Exception] = []
        self.closed = 0

    async def open(self) -> bytes | None:
        return None if self.form == "android" else self.certificate

    async def read_certificate(self) -> bytes:
        assert self.form != "android" or self.verified, "an Android phone shows it only after its PIN"
        return self.certificate

    async def pin_tries_left(self) -> int:
        assert self.form != "iphone", "an iPhone has no PIN to ask"
        return 3

    async def verify_pin(self, pin: str) -> None:
        assert self.form != "iphone", "an iPhone has no PIN to verify"
        if self.pin_errors:
            raise self.pin_errors.pop(0)
        self.verified.append(pin)

    async def sign(self, digest: bytes) -> bytes:
        return b"sig"

    async def close(self) -> None:
        self.closed += 1


class Reader:
    """The reader the engine sees: whatever credential is placed on it."""

    def __init__(self, held: Credential) -> None:
        self.held = held

    def __getattr__(self, name: str) -> Any:
        return getattr(self.held, name)


def engine_for(server: PhoneServer, reader: Reader) -> KioskEngine:
    return KioskEngine(
        server,  # type: ignore[arg-type]
        reader,
        FakePrinter(),
        SimulatedPaymentDevice(),
        ISSUING_KEY.public_key(),
        idle_timeout_s=60,
        retry_pause_s=0,
        clock=Clock(),
    )


async def placed(engine: KioskEngine) -> None:
    await engine.choose_language("en")
    engine.card_changed(True)


async def signed_in_with_card(engine: KioskEngine) -> None:
    """The card placed and its PIN typed (the menu follows)."""
    await placed(engine)
    await settle(engine, Step.PIN)
    await engine.enter_pin("1234")


async def to_menu_with_card(engine: KioskEngine) -> dict[str, Any]:
    """Card and PIN, then the menu's state."""
    await signed_in_with_card(engine)
    return await settle(engine, Step.MENU)


async def to_linking(engine: KioskEngine) -> None:
    """Card and PIN, the menu, then "register a smartphone"."""
    await to_menu_with_card(engine)
    await engine.add_phone()


async def test_an_iphone_goes_straight_to_the_menu_without_a_pin(phone_certs: dict[str, bytes]) -> None:
    server, iphone = PhoneServer(), Credential(phone_certs["iphone"], "iphone")
    engine = engine_for(server, Reader(iphone))
    await placed(engine)
    state = await settle(engine, Step.MENU)
    assert state["form"] == "iphone" and state["authenticated"] is True
    assert server.signed_in == [(phone_certs["iphone"], None)] and iphone.verified == []
    assert state["phone_linking"] is False  # linking is for a session signed in with the card


async def test_an_iphone_is_asked_the_registered_pin_when_the_city_requires_it(
    phone_certs: dict[str, bytes],
) -> None:
    server, iphone = PhoneServer(iphone_pin="required"), Credential(phone_certs["iphone"], "iphone")
    engine = engine_for(server, Reader(iphone))
    await placed(engine)
    state = await settle(engine, Step.PIN)
    assert state["form"] == "iphone"
    await engine.enter_pin("2468")
    await settle(engine, Step.MENU)
    assert server.signed_in == [(phone_certs["iphone"], "2468")] and iphone.verified == []  # only the server


async def test_an_android_phone_shows_its_certificate_after_its_pin(phone_certs: dict[str, bytes]) -> None:
    server, android = PhoneServer(), Credential(phone_certs["android"], "android")
    engine = engine_for(server, Reader(android))
    await placed(engine)
    state = await settle(engine, Step.PIN)
    assert state["form"] == "android" and state["tries_left"] is None
    await engine.enter_pin("2468")
    state = await settle(engine, Step.MENU)
    assert android.verified == ["2468"] and server.signed_in == [(phone_certs["android"], "2468")]
    assert engine.visit.certificate == phone_certs["android"]  # what the print guard checks sheets against


async def test_a_credential_neither_ca_issued_ends_with_its_own_words(phone_certs: dict[str, bytes]) -> None:
    server, iphone = PhoneServer(), Credential(phone_certs["iphone"], "iphone")
    server.auth_error = HttpError(401, "card_certificate_untrusted", "not ours")
    engine = engine_for(server, Reader(iphone))
    await placed(engine)
    state = await settle(engine, Step.TAKE_CARD, Step.DONE)
    assert state["message"]["code"] == "credential_untrusted" and state["form"] == "iphone"


async def test_a_resident_signed_in_with_the_card_links_an_android_phone(
    phone_certs: dict[str, bytes],
) -> None:
    server = PhoneServer()
    reader = Reader(Credential(CARD_DER))
    engine = engine_for(server, reader)
    state = await to_menu_with_card(engine)
    assert state["form"] == "card" and state["phone_linking"] is True
    await engine.add_phone()
    state = await settle(engine, Step.LINK_PHONE)
    engine.card_changed(False)  # the card taken back
    android = Credential(phone_certs["android"], "android")
    reader.held = android
    engine.card_changed(True)  # the phone held over the reader
    state = await settle(engine, Step.LINK_PIN)
    assert state["link_form"] == "android"
    android.pin_errors.append(WrongPin(2))
    await engine.enter_pin("0000")
    state = await settle(engine, Step.LINK_PIN)
    assert state["message"]["code"] == "pin_wrong"
    await engine.enter_pin("2468")
    state = await settle(engine, Step.MENU)
    assert state["message"]["code"] == "phone_linked" and state["link_form"] is None
    assert server.linked == [(phone_certs["android"], "2468")] and android.closed >= 1
    assert engine.visit.certificate == CARD_DER  # the session's credential is still the card


async def test_a_card_held_to_link_is_not_linked(phone_certs: dict[str, bytes]) -> None:
    server = PhoneServer()
    reader = Reader(Credential(CARD_DER))
    engine = engine_for(server, reader)
    await to_linking(engine)
    await settle(engine, Step.LINK_PHONE)
    engine.card_changed(True)  # the session's own card again: the kiosk keeps waiting for the phone
    state = await settle(engine, Step.LINK_PHONE)
    assert state["message"] is None
    reader.held = Credential(b"another card")
    engine.card_changed(True)  # another card: not a phone
    state = await settle(engine, Step.MENU)
    assert state["message"]["code"] == "phone_not_linked" and server.linked == []


async def test_linking_is_not_offered_to_a_session_signed_in_with_a_phone(
    phone_certs: dict[str, bytes],
) -> None:
    engine = engine_for(PhoneServer(), Reader(Credential(phone_certs["iphone"], "iphone")))
    await placed(engine)
    await settle(engine, Step.MENU)
    with pytest.raises(StepError):
        await engine.add_phone()


async def test_back_from_linking_returns_to_the_menu(phone_certs: dict[str, bytes]) -> None:
    engine = engine_for(PhoneServer(), Reader(Credential(CARD_DER)))
    await to_linking(engine)
    await settle(engine, Step.LINK_PHONE)
    await engine.back()
    state = await settle(engine, Step.MENU)
    assert state["message"] is None and state["authenticated"] is True


async def test_a_phone_already_on_the_reader_is_read_when_linking_starts(
    phone_certs: dict[str, bytes],
) -> None:
    server = PhoneServer()
    reader = Reader(Credential(CARD_DER))
    engine = engine_for(server, reader)
    await to_linking(engine)  # the card still on the reader: the kiosk waits for the phone
    state = await settle(engine, Step.LINK_PHONE)
    assert state["message"] is None
    reader.held = Credential(phone_certs["iphone"], "iphone")  # swapped while the watcher saw nothing new
    await engine.back()
    await engine.add_phone()
    state = await settle(engine, Step.LINK_PIN)
    assert state["link_form"] == "iphone"


async def test_a_blocked_android_phone_ends_the_session_without_a_report(
    phone_certs: dict[str, bytes],
) -> None:
    server, android = PhoneServer(), Credential(phone_certs["android"], "android")
    android.pin_errors.append(PinBlocked())
    engine = engine_for(server, Reader(android))
    await placed(engine)
    await settle(engine, Step.PIN)
    await engine.enter_pin("0000")
    state = await settle(engine, Step.TAKE_CARD, Step.DONE)
    assert state["message"]["code"] == "pin_blocked" and server.blocked_cards == []
