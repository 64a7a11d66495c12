"""The resident's touchscreen in headless Chromium (Playwright driving Debian's /usr/bin/chromium) against
the real kiosk app, server, registry_sim, pcscd + vpcd with the virtual card, a private cupsd and the
simulated payment device: the flows a resident meets, in their language, accessible on every screen."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.catalogue import catalogue, languages
from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.processes import free_port
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.stacks import change_upstream, registered_card

pytestmark = pytest.mark.e2e
PIN = "7531"


@pytest.fixture(scope="module")
def chromium() -> Iterator[object]:
    with browser() as b:
        yield b


@pytest.fixture(scope="module")
def resident_card(stack: Stack) -> Path:
    """The demo resident's card, registered with this module's PIN."""
    return registered_card(stack, PIN, "kiosk-ui-resident")


@pytest.fixture
def card_in(stack: Stack, resident_card: Path) -> Path:
    """The resident's card in the reader at the start of each test (tests pull it)."""
    card = stack.services.get("card")
    if card is None or str(resident_card) not in card.args:
        stack.insert_card(resident_card)
    return resident_card


def open_screen(stack: Stack, cups: CupsServer, chromium: object, *settings: str) -> KioskScreen:
    url = stack.start_kiosk_app(
        free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket, *settings
    )
    return KioskScreen(chromium, url)  # type: ignore[arg-type]


def to_menu(screen: KioskScreen, language: str, pin: str = PIN) -> None:
    screen.choose_language(language)
    screen.wait_step("pin")
    screen.type_pin(pin)
    assert screen.wait_step("menu", "pin", "take_card") == "menu", screen.message()


def next_resident(stack: Stack, screen: KioskScreen, card: Path) -> None:
    """The session ended with the card in the reader: it is taken, the done screen closed, the next
    resident's card put in."""
    screen.wait_step("take_card")
    stack.remove_card()
    screen.wait_step("done")
    screen.tap("#done-close")
    screen.wait_step("language")
    stack.insert_card(card)


def test_a_resident_gets_each_shape_of_certificate_through_the_touchscreen(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    """One kind of each options screen (住民票's scopes and items, a seal's copies only, a tax year); every
    kind is issued through the kiosk app in test_kiosk_app_e2e.py."""
    screen = open_screen(stack, cups, chromium)
    kinds = ["juminhyo", "inkan", "tax_income_assessment"]
    for n, kind in enumerate(kinds):
        language = ["ja", "en", "vi"][n % 3]
        if n == 0:  # by keyboard alone: Tab to the language, Enter; digits and Enter on the PIN pad
            screen.page.keyboard.press("Tab")
            while screen.page.evaluate("() => document.activeElement.id") != "start-ja":
                screen.page.keyboard.press("Tab")
            screen.page.keyboard.press("Enter")
            screen.wait_step("pin")
            screen.page.keyboard.type(PIN)
            screen._since = screen.version()
            screen.page.keyboard.press("Enter")
            assert screen.wait_step("menu") == "menu"
        else:
            to_menu(screen, language)
        assert screen.heading() == catalogue(language)["step.menu"]
        screen.tap(f"#kind-{kind}")
        screen.wait_step("options")
        screen.tap("#more")  # two copies
        screen.tap("#next")
        screen.wait_step("confirm")
        assert f"{2 * 200}" in screen.heading()
        screen.tap("#pay")
        screen.wait_step("ready", timeout_s=60)
        screen.tap("#print")
        screen.wait_step("take_card", timeout_s=90)
        assert screen.message().startswith(catalogue(language)["msg.printed"].format(printed=2))
        serials = [c["serial"] for c in screen.state()["certificates"]]
        assert len(serials) == 2 and all(cups.printed(s) for s in serials)
        stack.remove_card()
        screen.wait_step("done")
        screen.tap("#done-close")
        screen.wait_step("language")
        assert "200" not in screen.page.locator("body").inner_text()  # nothing of the resident is left
        stack.insert_card(card_in)
    screen.close()


def test_a_wrong_pin_counts_down_in_the_residents_language(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    screen.choose_language("pt")
    screen.wait_step("pin")
    screen.type_pin("0000")
    screen.wait_step("pin")
    assert screen.message() == catalogue("pt")["msg.pin_wrong"].format(tries_left=2)
    error = screen.page.locator("#dock #message.error[role=alert]")  # next to 決定, in the error style
    assert error.is_visible() and error.evaluate("e => getComputedStyle(e).color") == "rgb(138, 17, 17)"
    screen.type_pin(PIN)  # the right one: the card's counter is reset
    assert screen.wait_step("menu") == "menu"
    screen.tap("#cancel")
    screen.wait_step("take_card")
    screen.close()


def test_the_card_is_asked_back_after_the_pin_and_the_session_goes_on_without_it(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    to_menu(screen, "ko")
    notice = screen.page.locator("#card-notice")
    assert notice.inner_text() == catalogue("ko")["ui.card_done"]
    stack.remove_card()  # as the screen asks
    notice.wait_for(state="detached")
    assert screen.state()["step"] == "menu" and screen.message() == ""
    screen.tap("#kind-juminhyo")
    screen.wait_step("options")
    screen.tap("#scope-members")
    members = screen.state()["menu"][0]["members"]
    wife = next(m for m in members if m["relationship"] == "妻")
    label = screen.page.locator(f"label[for='member-{wife['member_id']}']").inner_text()
    assert label == f"{wife['name']}（{catalogue('ko')['relationship.妻']} / 妻）"  # 続柄 in Korean too
    screen.tap(f"#member-{wife['member_id']}")
    screen.tap("#next")
    screen.wait_step("confirm")
    summary = screen.page.locator("#summary").inner_text()
    assert wife["name"] in summary and catalogue("ko")["kind.juminhyo"] in summary
    screen.tap("#pay")
    screen.wait_step("ready", timeout_s=60)
    screen.tap("#print")
    assert screen.wait_step("done", "take_card", timeout_s=90) == "done"  # no card to wait for
    assert screen.heading() == catalogue("ko")["ui.take_certificates"]
    assert screen.message() == catalogue("ko")["msg.printed"].format(printed=1)
    [serial] = [c["serial"] for c in screen.state()["certificates"]]
    assert len(cups.printed(serial)) == 1
    screen.tap("#done-close")
    screen.wait_step("language")
    assert screen.page.get_attribute("html", "lang") == "ja" and screen.message() == ""
    assert wife["name"] not in screen.page.locator("body").inner_text()
    screen.close()


def test_a_card_pulled_at_the_pin_is_said_in_the_residents_language_then_cleared(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium, "--farewell-s", "2")
    screen.choose_language("vi")
    screen.wait_step("pin")
    stack.remove_card()
    screen.wait_step("done")
    assert screen.message() == catalogue("vi")["msg.card_removed"]  # not in Japanese
    assert screen.heading() == catalogue("vi")["ui.thanks"]
    screen.wait_step("language", timeout_s=15)  # cleared by itself for the next person
    assert screen.message() == "" and screen.page.get_attribute("html", "lang") == "ja"
    screen.close()


def test_a_card_left_in_the_reader_at_the_end_sounds_the_alarm_until_taken(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    to_menu(screen, "en")
    screen.tap("#cancel")
    screen.wait_step("take_card")
    alarm = screen.page.locator("#card-alarm")
    assert alarm.is_visible() and alarm.bounding_box()["width"] >= 1280  # type: ignore[index]
    assert screen.heading() == catalogue("en")["step.take_card_only"]  # nothing was printed
    assert screen.page.get_attribute("#card-alarm img", "src") == "/page/card-out.svg"
    screen.page.wait_for_function("() => Number(document.querySelector('main').dataset.beeps) >= 2")
    stack.remove_card()
    screen.wait_step("done")
    assert screen.page.get_attribute("main", "data-alarm") == "off"
    beeps = screen.page.get_attribute("main", "data-beeps")
    screen.page.wait_for_timeout(1600)  # longer than one beep's interval: the alarm stays silent
    assert screen.page.get_attribute("main", "data-beeps") == beeps
    screen.tap("#done-close")
    screen.close()


def test_the_payment_screen_has_a_cancel_that_stops_the_payment(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium, "--payment-manual")
    to_menu(screen, "tl")
    screen.tap("#kind-inkan")
    screen.wait_step("options")
    screen.tap("#next")
    screen.wait_step("confirm")
    screen.tap("#pay")
    screen.wait_step("payment", settled=False)
    screen.tap("#cancel")
    screen.wait_step("confirm")
    assert screen.message() == catalogue("tl")["msg.payment_cancelled"]
    assert KioskAppClient(screen.url).ledger()["taken_yen"] == 0
    screen.tap("#cancel")
    screen.close()


def test_a_cancelled_payment_is_said_and_nothing_is_issued(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    KioskAppClient(screen.url).payment_outcome("cancelled")
    to_menu(screen, "tl")
    screen.tap("#kind-inkan")
    screen.wait_step("options")
    screen.tap("#next")
    screen.wait_step("confirm")
    screen.tap("#pay")
    screen.wait_step("confirm")
    assert screen.message() == catalogue("tl")["msg.payment_cancelled"]
    assert KioskAppClient(screen.url).ledger()["taken_yen"] == 0
    screen.tap("#cancel")
    screen.close()


def test_an_idle_screen_counts_down_then_ends_and_wipes(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium, "--idle-timeout-s", "4", "--idle-warning-s", "2")
    to_menu(screen, "en")
    assert "seconds" in screen.page.locator("#idle").inner_text()  # the visible countdown
    warning = screen.page.locator("#idle-warning")
    warning.wait_for(state="visible", timeout=10_000)  # "need more time?" before the end
    assert warning.inner_text().startswith(catalogue("en")["ui.idle_warning"].split("?")[0])
    screen.page.click("#idle-continue")
    warning.wait_for(state="hidden")
    assert screen.state()["step"] == "menu" and screen.state()["idle_s_left"] > 2  # more time given
    screen.wait_step("take_card", timeout_s=15)
    assert screen.message().startswith(catalogue("en")["msg.timed_out"])
    assert screen.page.locator(".kind").count() == 0  # the menu is gone from the screen
    screen.close()


def test_a_reason_told_only_at_the_city_hall_is_shown_neutrally_in_each_language(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    registry = stack.registry()
    person = registry.call("GET", f"/records/resident/{DEMO_ATENA_NO}")
    registry.call("POST", "/control/apply", {"changes": [{"op": "upsert", "record": {
        **person, "support_measure": 1, "version": person["version"] + 1}}]})  # fmt: skip
    try:
        screen = open_screen(stack, cups, chromium)
        for language in ("ja", "easy-ja", "ne"):
            to_menu(screen, language)
            why = screen.page.locator("#why-juminhyo")
            for _ in range(30):  # the feed brings the change within a moment
                if why.count():
                    break
                screen.tap("#cancel")
                next_resident(stack, screen, card_in)
                to_menu(screen, language)
            text = why.inner_text()
            assert catalogue(language)["reason.ask_at_city_hall"] in text
            assert screen.page.locator("#kind-juminhyo").get_attribute("aria-disabled") == "true"
            screen.tap("#cancel")
            next_resident(stack, screen, card_in)
        screen.close()
    finally:
        change_upstream(stack, {**person, "version": person["version"] + 2})


def test_a_closed_service_is_said_in_every_language(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    stack.ops("mode", "maintenance", "--reason", "planned maintenance (test)")
    try:
        for language in languages():
            screen.choose_language(language)
            assert screen.wait_step("take_card") == "take_card"
            assert screen.message() == catalogue(language)["reason.maintenance"]
            next_resident(stack, screen, card_in)
    finally:
        stack.ops("mode", "normal", "--reason", "maintenance over (test)")
    screen.close()


def test_three_wrong_pins_lock_and_send_the_resident_to_the_city_hall(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    """Last in this module: it blocks the card's PIN."""
    screen = open_screen(stack, cups, chromium)
    screen.choose_language("zh-Hans")
    screen.wait_step("pin")
    for tries_left in (2, 1):
        screen.type_pin("0000")
        screen.wait_step("pin")
        assert screen.message() == catalogue("zh-Hans")["msg.pin_wrong"].format(tries_left=tries_left)
        assert catalogue("zh-Hans")["ui.tries_left"].format(tries_left=tries_left) in screen.page.inner_text(
            "main"
        )
    screen.type_pin("0000")
    screen.wait_step("take_card")
    assert screen.message() == catalogue("zh-Hans")["msg.pin_blocked"]
    clerk = stack.server_client({"Authorization": f"Bearer {stack.staff_token()}"})
    listed = clerk.call("GET", f"/clerk/api/registrations?atena_no={DEMO_ATENA_NO}")["registrations"]
    assert [(r["status"], r["lock_reason"]) for r in listed if r["status"] != "revoked"] == [
        ("locked", "card_pin_blocked")
    ]  # the card's own block reached the city
    next_resident(stack, screen, card_in)  # the same card again: not asked for a PIN it cannot take
    screen.choose_language("ko")
    assert screen.wait_step("take_card", "pin") == "take_card"
    assert screen.message() == catalogue("ko")["msg.pin_blocked"]
    screen.close()
