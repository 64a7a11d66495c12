"""Time on the touchscreen, as a resident sees it (headless Chromium, the real kiosk app, server, pcscd +
vpcd with the virtual card, a private cupsd): from the PIN's last digit (OK) to the menu shown, and from
"pay" to "printing" shown (pay -> issued and ready; Print -> printing shown).

The page records, in the browser's own clock, each tap and each screen change (a MutationObserver on
the screen's ``data-step``); the figures are differences of those times.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from kiosk.pcscd import ensure_pcscd, stop_pcscd_if_started
from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_ui import KioskScreen, browser
from konbini_demo.processes import free_port
from konbini_demo.stack import Stack
from registry_sim.generator import DEMO_ATENA_NO

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


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=15, help="sessions")
    args = parser.parse_args()
    started_pcscd = ensure_pcscd()
    stack = Stack(Path(tempfile.mkdtemp(prefix="bench-kiosk-ui-")), residents=600, vpcd_port=35964)
    cups = CupsServer(stack.root / "printed", stack.logs, name="konbini-bench-ui")
    pin_to_menu, pay_to_ready, print_to_printing = [], [], []
    try:
        stack.start()
        card = stack.personalise_card("resident", PIN)
        stack.insert_card(card)
        stack.register(DEMO_ATENA_NO, PIN)
        cups.start()
        url = stack.start_kiosk_app(free_port(), "--printer", cups.queue("pdf"), "--cups-server", cups.socket)
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
            print(
                f"{name}: median {statistics.median(values):.0f} ms, p95 {p95(values):.0f} ms (n={len(values)})"
            )
    finally:
        stack.stop()
        cups.stop()
        if started_pcscd:
            stop_pcscd_if_started()


if __name__ == "__main__":
    main()
