"""``konbini-demo --kiosk-ui``: one resident through the touchscreen page in headless Chromium (the kiosk
app, a private CUPS server, the simulated payment device), a screenshot of every screen.

``konbini-demo --kiosk``: the same stack for a person at this machine: prints the page's URL, with the
demo panel (insert / remove the demo card, answer the payment device), until Ctrl-C."""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path

from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.processes import ServiceError, free_port
from konbini_demo.stack import Stack


def step(text: str) -> None:
    print(f"kiosk ui demo: {text}", file=sys.stderr, flush=True)


def resident_flow(stack: Stack, screen: KioskScreen, card: Path, pin: str, language: str,
                  shots: Path | None) -> str:  # fmt: skip
    """Language, card, PIN, menu (where the card is taken back, as the screen asks), options, confirm, pay,
    print, done; returns the printed serial."""
    n = 0

    def shot(name: str) -> None:
        nonlocal n
        if shots is not None:
            n += 1
            screen.screenshot(shots / f"{language}-{n:02d}-{name}.png")

    screen.wait_step("language")
    shot("language")
    stack.remove_card()
    screen.choose_language(language)
    screen.wait_step("card")
    shot("card")
    stack.insert_card(card)
    screen.wait_step("pin")
    screen.tap("#digit-" + pin[0])
    screen.tap("#digit-" + pin[1])
    shot("pin")
    for digit in pin[2:]:
        screen.tap(f"#digit-{digit}")
    screen.tap("#pin-ok")
    screen.wait_step("menu")
    shot("menu")
    stack.remove_card()  # the card is needed only until the PIN
    screen.page.wait_for_selector("#card-notice", state="detached")
    screen.tap("#kind-juminhyo")
    screen.wait_step("options")
    screen.tap("#option-householder")
    shot("options")
    screen.tap("#next")
    screen.wait_step("confirm")
    shot("confirm")
    screen.tap("#pay")
    screen.wait_step("payment", settled=False)
    shot("payment")
    KioskAppClient(screen.url).payment_outcome("paid")  # the resident pays at the store's device
    screen.wait_step("ready", timeout_s=60)
    shot("ready")
    screen.tap("#print")
    screen.wait_step("done", timeout_s=90)
    shot("done")
    serial = str(screen.state()["certificates"][0]["serial"])
    screen.tap("#done-close")
    screen.wait_step("language")
    return serial


def run_kiosk_ui_demo(
    stack: Stack, card: Path, pin: str, out: Path, shots: Path | None, languages: list[str]
) -> str:
    run_dir = out / "kiosk-ui" / time.strftime("%Y%m%d-%H%M%S")
    shots = shots or run_dir / "screens"
    cups = CupsServer(run_dir, stack.logs, name="konbini-ui")
    try:
        cups.start()
        url = stack.start_kiosk_app(
            free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket, "--payment-manual"
        )
        step(f"kiosk app on {url}; Chromium drives the page")
        with browser() as b:
            screen = KioskScreen(b, url)
            offered = len(screen.page.locator(".languages button").all())
            serials = [resident_flow(stack, screen, card, pin, lang, shots) for lang in languages]
            screen.close()
        step(f"screenshots in {shots}")
        [printed] = cups.printed(serials[-1])
        verdict = stack.verify(printed)
        if verdict.returncode != 0:
            raise ServiceError(f"verification of {printed} failed: {verdict.stdout.strip()}")
        screens = len(list(shots.glob(f"{languages[0]}-*.png")))
        shown = printed.relative_to(Path.cwd()) if printed.is_relative_to(Path.cwd()) else printed
        return f"KIOSK UI DEMO OK screens={screens} languages={offered} certificate={shown} verify=VALID"
    finally:
        stack.stop_kiosk_app()
        cups.stop()


def run_kiosk_for_a_person(stack: Stack, card: Path, out: Path, port: int) -> None:
    """The stack with the kiosk app and its demo panel, until Ctrl-C."""
    cups = CupsServer(out / "kiosk" / time.strftime("%Y%m%d-%H%M%S"), stack.logs, name="konbini-kiosk")
    try:
        cups.start()
        stack.remove_card()
        url = stack.start_kiosk_app(
            port, "--printer", cups.queue("pdf"), "--cups-server", cups.socket, "--payment-manual",
            "--demo-card", str(card), "--demo-vpcd-port", str(stack.vpcd_port),
        )  # fmt: skip
        print(
            f"KIOSK READY {url}  (open it in a browser on this machine; Ctrl-C stops everything)", flush=True
        )
        print(f"  a store terminal runs: chromium --kiosk --app={url}", flush=True)
        print(f"  printed certificates land in {cups.out_dir}", flush=True)
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
    finally:
        stack.stop_kiosk_app()
        cups.stop()
