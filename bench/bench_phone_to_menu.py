"""From the phone on the reader to the menu shown, for each form of phone beside the card (headless Chromium,
the real kiosk app, server, pcscd + vpcd with virtual phones): the page records, in the browser's own clock,
when it first shows a credential on the reader (``data-card``), each screen change and each tap.

Card and Android phone: reader -> PIN pad shown, then PIN's OK -> menu shown (the typing between is the
resident's, left out). iPhone (the city's default ``on_device``): reader -> menu shown, with no PIN.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.phone_demo import PHONE_PIN, leave, link_at_kiosk, start
from konbini_demo.resident_stack import kiosk_app_stack, print_figure
from konbini_demo.stack import Stack

PIN = "2580"
RECORDER = """() => {
  window.__log = [];
  const main = document.querySelector('main');
  document.addEventListener('click', e => {
    const b = e.target.closest('button'); if (b) window.__log.push(['tap', b.id, performance.now()]);
  }, true);
  new MutationObserver(records => {
    for (const r of records) window.__log.push([r.attributeName, main.getAttribute(r.attributeName), performance.now()]);
  }).observe(main, {attributes: true, attributeFilter: ['data-step', 'data-card']});
}"""


def first(log: list[tuple[str, str, float]], kind: str, what: str, after: float = 0.0) -> float:
    return next(t for k, w, t in log if k == kind and w == what and t > after)


def session(stack: Stack, screen: KioskScreen, credential: Path, form: str) -> tuple[float, float]:
    """(reader -> first screen of the credential: PIN pad or menu, PIN's OK -> menu; 0 for an iPhone)."""
    screen.page.evaluate(RECORDER)
    start(stack, screen, credential)
    if form != "iphone":
        screen.wait_step("pin")
        screen.type_pin(PIN if form == "card" else PHONE_PIN)
    screen.wait_step("menu")
    log = [(str(k), str(w), float(t)) for k, w, t in screen.page.evaluate("() => window.__log")]
    on_reader = first(log, "data-card", "1")
    if form == "iphone":
        shown = first(log, "data-step", "menu", on_reader) - on_reader
        typed = 0.0
    else:
        shown = first(log, "data-step", "pin", on_reader) - on_reader
        ok = first(log, "tap", "pin-ok", on_reader)
        typed = first(log, "data-step", "menu", ok) - ok
    screen.tap("#cancel")
    leave(stack, screen)
    return shown, typed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=15, help="sessions per form")
    args = parser.parse_args()
    figures: dict[str, list[tuple[float, float]]] = {"card": [], "android": [], "iphone": []}
    with kiosk_app_stack("bench-phone-", PIN, "konbini-bench-phone") as (stack, card, url):
        phones = {
            form: stack.personalise_phone(f"bench-{form}", form, PHONE_PIN) for form in ("android", "iphone")
        }
        with browser() as b:
            screen = KioskScreen(b, url)
            for phone in phones.values():
                link_at_kiosk(stack, screen, card, PIN, phone)
            for i in range(args.n):
                for form, credential in (("card", card), *phones.items()):
                    figures[form].append(session(stack, screen, credential, form))
                print(f"round {i + 1}/{args.n} done", file=sys.stderr, flush=True)
            screen.close()
    for form in ("card", "android"):
        shown = [a for a, _ in figures[form]]
        typed = [b for _, b in figures[form]]
        print_figure(f"{form}: on the reader -> PIN pad shown", shown)
        print_figure(f"{form}: PIN's OK -> menu shown", typed)
        print_figure(f"{form}: both (the resident's typing left out)", [a + b for a, b in figures[form]])
    print_figure("iphone (on_device): on the reader -> menu shown", [a for a, _ in figures["iphone"]])


if __name__ == "__main__":
    main()
