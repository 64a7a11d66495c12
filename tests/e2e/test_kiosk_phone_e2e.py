"""The phone as the card (スマホ用電子証明書) across the real parts: the kiosk app in headless Chromium, the
server, registry_sim (publishing the smartphone CA's CRL), pcscd + vpcd with virtual phones of each form, a
private cupsd. A resident links each form at the kiosk after the card and its PIN, then prints with the phone
alone; an unknown smartphone CA, a phone revoked by its CA, a new card revoking the phones, and an iPhone
asked its PIN (and locking the resident's card with it) when the city requires it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.catalogue import catalogue
from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.phone_demo import PHONE_PIN, leave, print_with_phone, start
from konbini_demo.phone_demo import link_at_kiosk as linked
from konbini_demo.processes import free_port, run
from konbini_demo.soft_kiosk import eligible_adults
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.stacks import registered_card, wait_for
from wire.cert_qr import sheet_qr_texts
from wire.cert_record import load_public_key, record_text_of, verify_record

pytestmark = pytest.mark.e2e
PIN = "2684"  # the card's


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def resident_card(stack: Stack) -> Path:
    return registered_card(stack, PIN, "phone-resident")


@pytest.fixture(scope="module")
def phones(stack: Stack) -> dict[str, Path]:
    return {form: stack.personalise_phone(f"phone-{form}", form, PHONE_PIN) for form in ("android", "iphone")}


def open_screen(stack: Stack, cups: CupsServer, chromium: object) -> KioskScreen:
    url = stack.start_kiosk_app(free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket)
    return KioskScreen(chromium, url)  # type: ignore[arg-type]


def link_at_kiosk(stack: Stack, screen: KioskScreen, card: Path, phone: Path) -> None:
    linked(stack, screen, card, PIN, phone)


def printed_name(stack: Stack, pdf: Path) -> str:
    """The name the certificate's signed QR record names (every sheet's, checked with the city's key)."""
    key = load_public_key(stack.public_key)
    names = {
        verify_record(record_text_of(t), key).name
        for sheet in sheet_qr_texts(pdf.read_bytes())
        for t in sheet
    }
    assert len(names) == 1, names
    return names.pop()


def test_a_resident_links_each_form_at_the_kiosk_and_prints_with_the_phone_alone(
    stack: Stack, cups: CupsServer, chromium: object, resident_card: Path, phones: dict[str, Path]
) -> None:
    screen = open_screen(stack, cups, chromium)
    for form in ("android", "iphone"):
        link_at_kiosk(stack, screen, resident_card, phones[form])
    # another resident's card is registered meanwhile: each phone still prints its own resident's certificate
    other = eligible_adults(stack, 3)[-1]
    other_card = stack.personalise_card("phone-other-resident", "5555", holder=other)
    stack.insert_card(other_card)
    stack.register(other, "5555")
    stack.remove_card()
    holder = stack.resident_identity(DEMO_ATENA_NO).name
    for form in ("android", "iphone"):
        assert printed_name(stack, print_with_phone(stack, cups, screen, phones[form], form)) == holder
    screen.close()


def test_a_phone_from_an_unknown_smartphone_ca_is_told_to_ask_at_the_city_hall(
    stack: Stack, cups: CupsServer, chromium: object, tmp_path: Path
) -> None:
    rogue_ca = tmp_path / "rogue-phone-ca"
    run(["devices.card.cli", "init-ca", "--phone", "--dir", str(rogue_ca)])
    rogue = tmp_path / "rogue-iphone.json"
    run(["devices.card.cli", "personalise", "--form", "iphone", "--pin", PHONE_PIN, "--out", str(rogue),
         "--ca-dir", str(rogue_ca)])  # fmt: skip
    screen = open_screen(stack, cups, chromium)
    start(stack, screen, rogue, "ko")
    assert leave(stack, screen) == catalogue("ko")["msg.credential_untrusted"]
    screen.close()


def test_a_phone_revoked_by_its_ca_is_refused_and_the_card_still_works(
    stack: Stack, cups: CupsServer, chromium: object, resident_card: Path
) -> None:
    lost = stack.personalise_phone("phone-lost", "iphone", PHONE_PIN)
    screen = open_screen(stack, cups, chromium)
    link_at_kiosk(stack, screen, resident_card, lost)
    run(["devices.card.cli", "revoke", str(lost), "--ca-dir", str(stack.phone_ca_dir)])  # reported lost
    wait_for("the server to hold the new smartphone CRL", lambda: _refused(stack, screen, lost), 20)
    start(stack, screen, resident_card)  # the card is not touched by the phone's revocation
    screen.wait_step("pin")
    screen.type_pin(PIN)
    assert screen.wait_step("menu", "take_card") == "menu", screen.message()
    screen.tap("#cancel")
    leave(stack, screen)
    screen.close()


def _refused(stack: Stack, screen: KioskScreen, phone: Path) -> bool:
    """The phone held: refused as revoked (True), or still let in (the server has not yet fetched the CRL)."""
    start(stack, screen, phone)
    if screen.wait_step("menu", "take_card", "done") == "menu":
        screen.tap("#cancel")
    said = leave(stack, screen)
    return (
        said == catalogue("ja")["msg.registration_suspended"]
    )  # a revoked credential: "ask at the city hall"


def test_a_new_card_revokes_the_phones_of_the_old_one_and_only_the_desk_links_them_again(
    stack: Stack, cups: CupsServer, chromium: object
) -> None:
    card = registered_card(stack, PIN, "phone-resident-old-card")
    iphone = stack.personalise_phone("phone-of-the-old-card", "iphone", PHONE_PIN)
    screen = open_screen(stack, cups, chromium)
    link_at_kiosk(stack, screen, card, iphone)
    new_card = registered_card(stack, PIN, "phone-resident-new-card")  # the resident's new card, at the desk
    start(stack, screen, iphone)
    assert leave(stack, screen) == catalogue("ja")["msg.card_not_registered"]
    # a kiosk does not undo the revocation: linking it again is the desk's
    said = linked(stack, screen, new_card, PIN, iphone, check=False)
    assert said == catalogue("ja")["msg.phone_not_linked"]
    screen.close()


def test_an_iphone_is_asked_its_pin_when_the_city_requires_it_and_wrong_pins_lock_the_card_too(
    stack: Stack, cups: CupsServer, chromium: object
) -> None:
    card = registered_card(stack, PIN, "phone-resident-required")
    iphone = stack.personalise_phone("phone-required", "iphone", PHONE_PIN)
    screen = open_screen(stack, cups, chromium)
    link_at_kiosk(stack, screen, card, iphone)
    screen.close()
    restart_server(stack, {"KONBINI_PHONE_PIN_IPHONE": "required"})
    try:
        screen = open_screen(stack, cups, chromium)
        start(stack, screen, iphone)
        screen.wait_step("pin")
        assert screen.heading() == catalogue("ja")["step.pin_registered"]
        for left in (2, 1):
            screen.type_pin("0000")
            assert screen.wait_step("pin") == "pin"
            wait_for("the tries left", lambda: screen.state()["tries_left"] == left, 10)  # noqa: B023
        screen.type_pin("0000")
        assert leave(stack, screen) == catalogue("ja")["msg.registration_locked"]
        start(stack, screen, card)  # the resident's card is locked with the phone: one count per resident
        screen.wait_step("pin")
        screen.type_pin(PIN)
        assert leave(stack, screen) == catalogue("ja")["msg.registration_locked"]
        screen.close()
    finally:
        restart_server(stack, {})


def restart_server(stack: Stack, settings: dict[str, str]) -> None:
    """The server again with ``settings`` over the shared ones (as a city changes its configuration)."""
    stack.services.pop("server").stop()
    for name in ("KONBINI_PHONE_PIN_IPHONE",):
        stack.server_settings.pop(name, None)
    stack.server_settings.update(settings)
    stack.start_server()
