"""``konbini-demo --phone``: the phone as the card (スマホ用電子証明書) at the touchscreen in headless Chromium.

The demo resident signs in with the card and its PIN and links a phone of each form at the kiosk ("register
a smartphone"), then gets a 印鑑登録証明書 with each phone alone: the Android phone asks its own PIN on the
pad, the iPhone goes straight to the menu (the phone verified its owner). Each printed certificate is
verified. The flows here are the end-to-end tests' too (tests/e2e/test_kiosk_phone_e2e.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from kiosk.catalogue import catalogue
from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.processes import ServiceError, free_port
from konbini_demo.stack import Stack

PHONE_PIN = "9173"  # the phones' own (an Android phone's JPKI PIN; the one chosen for the iPhone)
FORMS = ("android", "iphone")


class FlowError(ServiceError):
    """A screen other than the one the flow expects: what it said."""


def expect(step: str, shown: str, screen: KioskScreen) -> None:
    if shown != step:
        raise FlowError(f"the kiosk showed {shown}, not {step}: {screen.message()}")


def start(stack: Stack, screen: KioskScreen, credential: Path, language: str = "ja") -> None:
    """The first screen, the language, then the card or phone on the reader."""
    stack.remove_card()
    screen.wait_step("language")
    screen.choose_language(language)
    screen.wait_step("card")
    stack.insert_card(credential)


def leave(stack: Stack, screen: KioskScreen) -> str:
    """The session's end: the credential taken if it is still on the reader, the done screen closed; the
    end's message as said."""
    if screen.wait_step("take_card", "done") == "take_card":
        stack.remove_card()
        screen.wait_step("done")
    said = screen.message()
    screen.tap("#done-close")
    screen.wait_step("language")
    return said


def link_at_kiosk(
    stack: Stack, screen: KioskScreen, card: Path, card_pin: str, phone: Path, phone_pin: str = PHONE_PIN,
    *, check: bool = True,
) -> str:  # fmt: skip
    """Card and PIN, "register a smartphone", the phone over the reader, its PIN: linked (``check``: else
    FlowError); what the menu then said."""
    start(stack, screen, card)
    screen.wait_step("pin")
    screen.type_pin(card_pin)
    expect("menu", screen.wait_step("menu", "take_card"), screen)
    screen.tap("#add-phone")
    screen.wait_step("link_phone")
    stack.insert_card(phone)  # the card taken back, the phone held over the reader
    screen.wait_step("link_pin")
    screen.type_pin(phone_pin)
    expect("menu", screen.wait_step("menu", "link_pin"), screen)
    said = screen.message()
    if check and said != catalogue("ja")["msg.phone_linked"]:
        raise FlowError(f"the phone was not linked: {said}")
    screen.tap("#cancel")
    leave(stack, screen)
    return said


def print_with_phone(
    stack: Stack, cups: CupsServer, screen: KioskScreen, phone: Path, form: str, phone_pin: str = PHONE_PIN
) -> Path:
    """The phone alone, to a printed and verified 印鑑登録証明書 (in English on the screen); the PDF."""
    en = catalogue("en")
    start(stack, screen, phone, "en")
    if form == "android":  # the phone's own PIN on the pad, as a card's
        screen.wait_step("pin")
        if screen.heading() != en["step.pin_phone"]:
            raise FlowError(f"the PIN screen says {screen.heading()!r}")
        screen.type_pin(phone_pin)
    expect("menu", screen.wait_step("menu", "pin", "take_card"), screen)
    if screen.state()["form"] != form or screen.page.locator("#add-phone").count():
        raise FlowError(f"signed in as {screen.state()['form']}, with linking offered: not a phone's session")
    screen.tap("#kind-inkan")
    screen.wait_step("options")
    screen.tap("#next")
    screen.wait_step("confirm")
    screen.tap("#pay")
    expect("ready", screen.wait_step("ready", "take_card", timeout_s=60), screen)
    screen.tap("#print")
    screen.wait_step("take_card", timeout_s=90)  # printed, the phone still on the reader
    if screen.heading() != en["step.take_phone"]:
        raise FlowError(f"the end says {screen.heading()!r}: {screen.message()}")
    serial = str(screen.state()["certificates"][0]["serial"])
    leave(stack, screen)
    deadline = time.monotonic() + 30
    while not (printed := cups.printed(serial)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if not printed:
        raise FlowError(f"certificate {serial} did not come out of the printer")
    verdict = stack.verify(printed[0])
    if verdict.returncode != 0:
        raise FlowError(f"verification of {printed[0]} failed: {verdict.stdout.strip()}")
    return printed[0]


def step(text: str) -> None:
    print(f"phone demo: {text}", file=sys.stderr, flush=True)


def run_phone_demo(stack: Stack, card: Path, card_pin: str, out: Path) -> str:
    """The demo resident's card is registered (and on the reader); the last line of the demo."""
    run_dir = out / "phone" / time.strftime("%Y%m%d-%H%M%S")
    cups = CupsServer(run_dir, stack.logs, name="konbini-phone")
    try:
        cups.start()
        url = stack.start_kiosk_app(free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket)
        step(f"kiosk app on {url}; Chromium drives the page")
        printed: list[Path] = []
        with browser() as b:
            screen = KioskScreen(b, url)
            for form in FORMS:
                phone = stack.personalise_phone(f"demo-{form}", form, PHONE_PIN)
                step(f"{form}: card and PIN, then the phone linked at the kiosk")
                link_at_kiosk(stack, screen, card, card_pin, phone)
                how = "its own PIN on the pad" if form == "android" else "no PIN: Face ID on the phone"
                step(f"{form}: the phone alone ({how}) to a printed 印鑑登録証明書")
                printed.append(print_with_phone(stack, cups, screen, phone, form))
            screen.close()
        shown = [p.relative_to(Path.cwd()) if p.is_relative_to(Path.cwd()) else p for p in printed]
        step(f"certificates: {' '.join(str(p) for p in shown)}")
        return f"PHONE DEMO OK forms={','.join(FORMS)} certificate={shown[-1]} verify=VALID"
    finally:
        stack.stop_kiosk_app()
        cups.stop()
