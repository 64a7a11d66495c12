"""The kiosk app during whole sessions: its resident memory (RSS), and the time from payment to the print
job accepted by CUPS (payment -> issued, then the print button -> CUPS accepted; the sum is what a
resident who presses at once waits).

Runs registry_sim, the server, pcscd + vpcd with the virtual card, a private cupsd with the cups-pdf
queue and the kiosk app as real processes, and drives N sessions through the app's local interface.
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import threading
import time
from pathlib import Path

from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.resident_stack import kiosk_app_stack, print_figure

PIN = "1357"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=20, help="sessions")
    args = parser.parse_args()
    peak, samples = 0.0, []
    with kiosk_app_stack("bench-kiosk-app-", PIN, "konbini-bench") as (stack, card, url):
        pid = stack.services["kiosk_app"].proc.pid
        idle = rss_mb(pid)
        stop = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not stop.is_set():
                value = rss_mb(pid)
                samples.append(value)
                peak = max(peak, value)
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        app = KioskAppClient(url)
        for i in range(args.n):
            app.act("language", {"language": "ja"})
            app.wait_step("pin")
            app.act("pin", {"pin": PIN})
            app.wait_step("menu")
            app.act("select", {"kind": "juminhyo"})
            app.act("options", {"scope": "self"})
            app.wait_step("confirm")
            app.act("pay")
            app.wait_step("ready")
            app.act("print")
            done = app.wait_step("take_card", timeout_s=60)
            assert done["message"]["code"] == "printed", done["message"]
            stack.remove_card()
            app.wait_step("done")
            app.act("cancel")
            app.wait_step("language")
            stack.insert_card(card)
            print(f"session {i + 1}/{args.n} done", file=sys.stderr, flush=True)
        stop.set()
        sampler.join()
        log = (stack.logs / "kiosk_app.log").read_text()
        issued = [float(x) for x in re.findall(r"paid_to_issued_ms=([\d.]+)", log)]
        accepted = [float(x) for x in re.findall(r"print_to_accepted_ms=([\d.]+)", log)]
        total = [a + b for a, b in zip(issued, accepted, strict=True)]
        print(
            f"kiosk app RSS: idle {idle:.0f} MB, during {args.n} sessions median {statistics.median(samples):.0f} MB, peak {peak:.0f} MB"
        )
        for name, values in (
            ("payment -> issued", issued),
            ("print pressed -> accepted by CUPS", accepted),
            ("payment -> accepted by CUPS (press at once)", total),
        ):
            print_figure(name, values)


if __name__ == "__main__":
    main()
