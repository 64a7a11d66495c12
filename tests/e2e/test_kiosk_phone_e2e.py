"""The phone as the card (スマホ用電子証明書) across the real parts: the kiosk app in headless Chromium, the
server, registry_sim (publishing the smartphone CA's CRL), pcscd + vpcd with virtual phones of each form, a
private cupsd. A resident links each form at the kiosk after the card and its PIN, then prints with the phone
alone (another resident's card registered meanwhile); a phone revoked by its CA leaves the card working; an
iPhone asked its PIN when the city requires it locks the card with its wrong PINs; a new card revokes the
phones and a kiosk does not link them again; an unknown smartphone CA is refused. (The flows are chained in
two tests on one resident's phones, linked once, to keep the suite's time.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.catalogue import catalogue
from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.phone_demo import PHONE_PIN, leave, link_at_kiosk, print_with_phone, start
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


def open_screen(stack: Stack, cups: CupsServer, chromium: object) -> KioskScreen:
    url = stack.start_kiosk_app(free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket)
    return KioskScreen(chromium, url)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def linked(stack: Stack, cups: CupsServer, chromium: object) -> dict[str, Path]:
    """The demo resident's card (registered) and a phone of each form, linked at the kiosk after the card
    and its PIN: ``card``, ``android``, ``iphone``."""
    card = registered_card(stack, PIN, "phone-resident")
    held = {"card": card}
    screen = open_screen(stack, cups, chromium)
    for form in ("android", "iphone"):
        held[form] = stack.personalise_phone(f"phone-{form}", form, PHONE_PIN)
        link_at_kiosk(stack, screen, card, PIN, held[form])
    screen.close()
    stack.stop_kiosk_app()
    return held


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


def to_menu_with_card(stack: Stack, screen: KioskScreen, card: Path) -> str:
    """The card and its PIN: where the kiosk went (``menu``, or the end's ``take_card`` / ``done``)."""
    start(stack, screen, card)
    screen.wait_step("pin")
    screen.type_pin(PIN)
    return screen.wait_step("menu", "take_card", "done")


def test_each_form_prints_its_residents_certificate_and_a_phone_revoked_by_its_ca_leaves_the_card_working(
    stack: Stack, cups: CupsServer, chromium: object, linked: dict[str, Path]
) -> None:
    other = eligible_adults(stack, 3)[-1]  # another resident's card registered meanwhile
    stack.insert_card(stack.personalise_card("phone-other-resident", "5555", holder=other))
    stack.register(other, "5555")
    stack.remove_card()
    holder = stack.resident_identity(DEMO_ATENA_NO).name
    screen = open_screen(stack, cups, chromium)
    for form in ("android", "iphone"):
        assert printed_name(stack, print_with_phone(stack, cups, screen, linked[form], form)) == holder

    lost = linked["android"]  # reported lost: J-LIS revokes its certificate
    run(["devices.card.cli", "revoke", str(lost), "--ca-dir", str(stack.phone_ca_dir)])
    stack.services["server"].wait_log("smartphone CRL current: 1 revoked", 20)  # fetched from registry_sim
    assert _refused(stack, screen, lost)
    assert to_menu_with_card(stack, screen, linked["card"]) == "menu", (
        screen.message()
    )  # the card is untouched
    screen.tap("#cancel")
    leave(stack, screen)
    screen.close()


def _refused(stack: Stack, screen: KioskScreen, phone: Path) -> bool:
    """The phone held: refused as revoked (True), or let in."""
    start(stack, screen, phone)
    if screen.wait_step("menu", "pin", "take_card", "done") == "pin":
        screen.type_pin(PHONE_PIN)
    if screen.wait_step("menu", "take_card", "done") == "menu":
        screen.tap("#cancel")
    said = leave(stack, screen)
    return (
        said == catalogue("ja")["msg.registration_suspended"]
    )  # a revoked credential: "ask at the city hall"


def test_an_iphone_asked_its_pin_locks_the_card_with_it_and_a_new_card_revokes_the_phones(
    stack: Stack, cups: CupsServer, chromium: object, linked: dict[str, Path]
) -> None:
    iphone, ja = linked["iphone"], catalogue("ja")
    restart_server(stack, {"KONBINI_PHONE_PIN_IPHONE": "required"})
    try:
        screen = open_screen(stack, cups, chromium)
        start(stack, screen, iphone)
        screen.wait_step("pin")
        assert screen.heading() == ja["step.pin_registered"]
        for left in (2, 1):
            screen.type_pin("0000")
            assert screen.wait_step("pin") == "pin"
            wait_for("the tries left", lambda: screen.state()["tries_left"] == left, 10)  # noqa: B023
        screen.type_pin("0000")
        assert leave(stack, screen) == ja["msg.registration_locked"]
        assert to_menu_with_card(stack, screen, linked["card"]) != "menu"  # one count per resident
        assert leave(stack, screen) == ja["msg.registration_locked"]
        screen.close()
    finally:
        restart_server(stack, {})
    new_card = registered_card(stack, PIN, "phone-resident-new-card")  # the resident's new card, at the desk
    screen = open_screen(stack, cups, chromium)
    start(stack, screen, iphone)
    assert leave(stack, screen) == ja["msg.card_not_registered"]
    # a kiosk does not undo the revocation: linking it again is the desk's
    assert link_at_kiosk(stack, screen, new_card, PIN, iphone, check=False) == ja["msg.phone_not_linked"]
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


def restart_server(stack: Stack, settings: dict[str, str]) -> None:
    """The server again with ``settings`` over the shared ones (as a city changes its configuration)."""
    stack.services.pop("server").stop()
    stack.server_settings.pop("KONBINI_PHONE_PIN_IPHONE", None)
    stack.server_settings.update(settings)
    stack.start_server()
