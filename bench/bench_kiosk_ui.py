"""Time on the touchscreen, as a resident sees it (headless Chromium, the real kiosk app, server, pcscd +
vpcd with the virtual card, a private cupsd): from the PIN's last digit (OK) to the menu shown, and from
"pay" to "printing" shown (pay -> issued and ready; Print -> printing shown).

The page records, in the browser's own clock, each tap and each screen change (a MutationObserver on
the screen's ``data-step``); the figures are differences of those times.
"""

from __future__ import annotations

import argparse
import sys

from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.resident_stack import kiosk_app_stack, print_figure

PIN = "2580"
RECORDER = """() => {
  window.__log = [];
  document.addEventListener('click', e => {
    const b = e.target.closest('button'); if (b) window.__log.push(['tap', b.id, performance.now()]);
  }, true);
  new MutationObserver(() => window.__log.push(['step', document.querySelector('main').dataset.step,
                                                 performance.now()]))
    .observe(document.querySelector('main'), {attributes: true, attributeFilter: ['data-step']});
}"""


def between(log: list[tuple[str, str, float]], tap: str, step: str) -> float:
    start = next(t for kind, what, t in log if kind == "tap" and what == tap)
    return next(t for kind, what, t in log if kind == "step" and what == step and t > start) - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=15, help="sessions")
    args = parser.parse_args()
    pin_to_menu, pay_to_ready, print_to_printing = [], [], []
    with kiosk_app_stack("bench-kiosk-ui-", PIN, "konbini-bench-ui") as (stack, card, url):
        with browser() as b:
            screen = KioskScreen(b, url)
            for i in range(args.n):
                screen.page.evaluate(RECORDER)
                screen.choose_language("ja")
                screen.wait_step("pin")
                screen.type_pin(PIN)
                screen.wait_step("menu")
                screen.tap("#kind-juminhyo")
                screen.wait_step("options")
                screen.tap("#next")
                screen.wait_step("confirm")
                screen.tap("#pay")
                screen.wait_step("ready", timeout_s=60)
                screen.tap("#print")
                screen.wait_step("take_card", timeout_s=90)
                log = [(str(k), str(w), float(t)) for k, w, t in screen.page.evaluate("() => window.__log")]
                pin_to_menu.append(between(log, "pin-ok", "menu"))
                pay_to_ready.append(between(log, "pay", "ready"))
                print_to_printing.append(between(log, "print", "printing"))
                stack.remove_card()
                screen.wait_step("done")
                screen.tap("#done-close")
                screen.wait_step("language")
                stack.insert_card(card)
                print(f"session {i + 1}/{args.n} done", file=sys.stderr, flush=True)
            screen.close()
        total = [a + b for a, b in zip(pay_to_ready, print_to_printing, strict=True)]
        for name, values in (
            ("PIN's last digit (OK) -> menu shown", pin_to_menu),
            ("pay -> issued, Print button shown", pay_to_ready),
            ("Print -> printing shown", print_to_printing),
            ("pay -> printing shown (Print pressed at once)", total),
        ):
            print_figure(name, values)


if __name__ == "__main__":
    main()
