"""The resident's touchscreen in headless Chromium (Playwright driving Debian's /usr/bin/chromium) against
the real kiosk app, server, registry_sim, pcscd + vpcd with the virtual card, a private cupsd and the
simulated payment device: the flows a resident meets, in their language, accessible on every screen."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from fontTools.ttLib import TTCollection, TTFont

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
NOTO = [
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
    Path("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf"),
    Path("/usr/share/fonts/truetype/noto/NotoSansDevanagari-Regular.ttf"),
]


@cache
def covered() -> frozenset[int]:
    """Every code point the page's font stack (local Noto fonts) has a glyph for."""
    points: set[int] = set()
    for path in NOTO:
        fonts = TTCollection(str(path)).fonts if path.suffix == ".ttc" else [TTFont(str(path))]
        for font in fonts:
            points |= set(font.getBestCmap())
    return frozenset(points)


def missing_glyphs(text: str) -> set[str]:
    return {
        c for c in text if not c.isspace() and unicodedata.category(c)[0] != "C" and ord(c) not in covered()
    }


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


def test_a_resident_gets_each_kind_through_the_touchscreen(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    kinds = ["juminhyo", "inkan", "tax_income", "tax_status", "tax_income_assessment", "tax_payment"]
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
        screen.wait_step("language")
        assert "200" not in screen.page.locator("main").inner_text()  # nothing of the resident is left
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
    screen.type_pin(PIN)  # the right one: the card's counter is reset
    assert screen.wait_step("menu") == "menu"
    screen.tap("#cancel")
    screen.wait_step("take_card")
    screen.close()


def test_pulling_the_card_mid_flow_wipes_the_screen(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    to_menu(screen, "ko")
    screen.tap("#kind-juminhyo")
    screen.wait_step("options")
    screen.tap("#scope-members")
    names = [m["name"] for m in screen.state()["menu"][0]["members"]]
    assert names[0] in screen.page.locator("main").inner_text()
    stack.remove_card()
    screen.wait_step("language")
    assert screen.message() == catalogue("ja")["msg.card_removed"]  # the next person's screen, in Japanese
    page_text = screen.page.locator("body").inner_text()
    assert not any(name in page_text for name in names)
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
    screen = open_screen(stack, cups, chromium, "--idle-timeout-s", "4")
    to_menu(screen, "en")
    assert "seconds" in screen.page.locator("#idle").inner_text()  # the visible countdown
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
                screen.wait_step("take_card")
                stack.remove_card()
                stack.insert_card(card_in)
                screen.wait_step("language")
                to_menu(screen, language)
            text = why.inner_text()
            assert catalogue(language)["reason.ask_at_city_hall"] in text
            assert screen.page.locator("#kind-juminhyo").get_attribute("aria-disabled") == "true"
            screen.tap("#cancel")
            screen.wait_step("take_card")
            stack.remove_card()
            stack.insert_card(card_in)
            screen.wait_step("language")
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
            stack.remove_card()
            screen.wait_step("language")
            stack.insert_card(card_in)
    finally:
        stack.ops("mode", "normal", "--reason", "maintenance over (test)")
    screen.close()


def test_every_screen_in_every_language_is_accessible_and_has_its_glyphs(
    stack: Stack, cups: CupsServer, chromium: object, card_in: Path, tmp_path: Path
) -> None:
    screen = open_screen(stack, cups, chromium)
    problems: list[str] = []

    def check(language: str, name: str) -> None:
        for violation in screen.axe_violations():
            problems.append(f"{language}/{name}: axe {violation}")
        if missing := missing_glyphs(screen.shown_text()):
            problems.append(f"{language}/{name}: no glyph for {sorted(missing)}")
        target = screen.smallest_target()
        if min(target["w"], target["h"]) < 56:
            problems.append(f"{language}/{name}: touch target {target}")
        if screen.smallest_font_px() < 16:
            problems.append(f"{language}/{name}: text under 16 px")

    check("all", "language")
    for language in languages():
        stack.remove_card()
        screen.choose_language(language)
        screen.wait_step("card")
        check(language, "card")
        stack.insert_card(card_in)
        screen.wait_step("pin")
        check(language, "pin")
        screen.type_pin(PIN)
        screen.wait_step("menu")
        check(language, "menu")
        screen.tap("#kind-juminhyo")
        screen.wait_step("options")
        screen.tap("#scope-members")
        check(language, "options")
        screen.tap("#scope-self")
        screen.tap("#next")
        screen.wait_step("confirm")
        check(language, "confirm")
        screen.tap("#pay")
        screen.wait_step("ready", timeout_s=60)
        check(language, "ready")
        screen.tap("#cancel")  # paid, not printed: voided and refunded
        screen.wait_step("take_card")
        check(language, "take_card")
        stack.remove_card()
        screen.wait_step("language")
    screen.tap("#larger-text")  # larger text: still no overlap that axe would see, still all glyphs
    stack.insert_card(card_in)
    to_menu(screen, "ne")
    check("ne-larger", "menu")
    screen.screenshot(tmp_path / "ne-larger-menu.png")
    screen.close()
    assert problems == []


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
    screen.close()
