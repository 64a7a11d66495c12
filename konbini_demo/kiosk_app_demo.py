"""``konbini-demo --kiosk-app``: one resident through the kiosk app, as the touchscreen page would drive it,
with a real CUPS queue (a virtual PDF printer) and the simulated payment device."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from konbini_demo.cups import CupsServer
from konbini_demo.kiosk_app_client import KioskAppClient
from konbini_demo.processes import ServiceError, free_port
from konbini_demo.stack import Stack


def step(text: str) -> None:
    print(f"kiosk app demo: {text}", file=sys.stderr, flush=True)


def run_kiosk_app_demo(stack: Stack, pin: str, out: Path) -> str:
    run_dir = out / "kiosk-app" / time.strftime("%Y%m%d-%H%M%S")  # each run its own: nothing overwritten
    cups = CupsServer(run_dir, stack.logs, name="konbini-demo")
    try:
        step("private CUPS server with a virtual PDF printer")
        cups.start()
        url = stack.start_kiosk_app(
            free_port(),
            "--printer",
            cups.queue("pdf"),
            "--cups-server",
            cups.socket,
            "--print-timeout-s",
            "60",
        )
        step(f"kiosk app on {url}; card in the reader")
        app = KioskAppClient(url)
        app.act("language", {"language": "ja"})
        app.wait_step("pin")
        app.act("pin", {"pin": pin})
        menu = app.wait_step("menu", "pin", "take_card")
        if menu["step"] != "menu":
            raise ServiceError(f"the PIN was not accepted: {menu['message']}")
        step("menu: " + ", ".join(f"{i['kind']} {i['fee_yen']}円" for i in menu["menu"] if i["available"]))
        app.act("select", {"kind": "juminhyo"})
        app.act("options", {"scope": "self", "options": ["householder"], "copies": 1})
        quote = app.wait_step("confirm", "options")["quote"]
        if quote is None:
            raise ServiceError("no quote")
        step(f"quote: {quote['total_yen']} yen; paying at the simulated device")
        app.act("pay")
        ready = app.wait_step("ready", "confirm", "menu", "take_card")
        if ready["step"] != "ready":
            raise ServiceError(f"not issued: {ready['message']}")
        app.act("print")
        done = app.wait_step("take_card", "done", timeout_s=90)
        if not done["message"] or done["message"]["code"] != "printed":
            raise ServiceError(f"not printed: {done['message']}")
        serial = done["certificates"][0]["serial"]
        step(f"printed {serial} on CUPS queue {cups.queue('pdf')}; the resident takes the card")
        stack.remove_card()
        app.wait_step("done", timeout_s=10)
        app.act("cancel")  # the done screen closed: the first screen for the next resident
        app.wait_step("language", timeout_s=10)
        [printed] = cups.printed(serial)
        verdict = stack.verify(printed)
        if verdict.returncode != 0:
            raise ServiceError(
                f"verification of {printed} failed: {verdict.stdout.strip()} {verdict.stderr.strip()}"
            )
        shown = printed.relative_to(Path.cwd()) if printed.is_relative_to(Path.cwd()) else printed
        return f"KIOSK APP DEMO OK certificate={shown} paid={done['paid_yen']} verify=VALID"
    finally:
        stack.stop_kiosk_app()
        cups.stop()
