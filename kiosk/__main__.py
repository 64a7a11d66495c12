"""``konbini-kiosk``: the store terminal's kiosk app.

``serve`` runs the kiosk app (card reader, printer, payment device, the session's state machine) with its
local interface for the touchscreen page. ``session`` drives the same engine through one whole session
from the command line, for scripts: card, PIN, menu, choice, quote, payment (simulated device), issue,
print (CUPS with ``--printer``, else a folder), end. Errors name the cause and exit non-zero: 3 for the
card or reader, 4 for the server's answer, 5 for a refusal, payment or print failure.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from pathlib import Path
from typing import Any

from devices.card.errors import CardError
from kiosk import settings as kiosk_settings
from kiosk.app import make_engine, resolve_reader, running, serve
from kiosk.catalogue import render, render_message
from kiosk.engine import KioskEngine
from kiosk.payment import PaymentOutcome, SimulatedPaymentDevice
from kiosk.session_steps import Step
from wire.cli import CommandParser, http_url, run_command
from wire.kiosk_api import JUMINHYO_OPTIONS, JUMINHYO_SCOPES, CertificateKind

CARD_CODES = frozenset({"card_unreadable", "pin_blocked"})
SERVER_CODES = frozenset(
    {
        "pin_wrong",
        "registration_locked",
        "registration_suspended",
        "card_not_registered",
        "service_unavailable",
    }
)
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class SessionFailed(Exception):
    def __init__(self, exit_code: int, text: str) -> None:
        super().__init__(text)
        self.exit_code = exit_code


def _pin() -> str:
    pin = os.environ.get("KONBINI_PIN")
    if pin:
        return pin
    if not sys.stdin.isatty():
        raise SessionFailed(5, "no PIN: set KONBINI_PIN or run at a terminal")
    return getpass.getpass("暗証番号 (4桁) / PIN: ")


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def show_menu(language: str, items: list[dict[str, Any]]) -> None:
    """What the resident sees: each certificate with its fee, or why it cannot be issued here."""
    for item in items:
        label = render(language, f"kind.{item['kind']}")
        if item["available"]:
            _say(f"  [{item['kind']}] {label}  {render(language, 'label.fee', item)}")
        else:
            _say(f"  [{item['kind']}] {label}: {render_message(language, item['refusal'])}")


class ScriptedSession:
    """One resident's session through the engine, as the command line describes it."""

    def __init__(self, engine: KioskEngine, args: argparse.Namespace, reader: str) -> None:
        self.engine = engine
        self.reader = reader
        self.args = args
        self.lang = args.language

    def fail_on(self, state: dict[str, Any], *expected: Step) -> None:
        if Step(state["step"]) in expected and not state["message"]:
            return
        message = state["message"] or {"code": "kiosk_error", "params": {}}
        code = message["code"]
        exit_code = 3 if code in CARD_CODES else 4 if code in SERVER_CODES else 5
        raise SessionFailed(exit_code, f"{code}: {render_message(self.lang, message)}")

    async def run(self) -> list[dict[str, Any]]:
        e, a = self.engine, self.args
        await e.choose_language(self.lang)
        try:
            state = await e.wait_for(Step.PIN, Step.TAKE_CARD, Step.DONE, timeout_s=a.wait + 3)
        except TimeoutError:
            raise SessionFailed(3, f"no_card: no card found; insert the card into {self.reader!r}") from None
        self.fail_on(state, Step.PIN)
        await e.enter_pin(_pin())
        state = await e.wait_for(Step.MENU, Step.PIN, Step.TAKE_CARD, Step.DONE)
        self.fail_on(state, Step.MENU)
        show_menu(self.lang, state["menu"])
        item = next(i for i in state["menu"] if i["kind"] == a.kind)
        if not item["available"]:
            label = render(self.lang, f"kind.{a.kind}")
            raise SessionFailed(5, f"{label}: {render_message(self.lang, item['refusal'])}")
        await e.select(a.kind)
        await e.choose(self.choices(item))
        state = await e.wait_for(Step.CONFIRM, Step.OPTIONS, Step.TAKE_CARD, Step.DONE)
        self.fail_on(state, Step.CONFIRM)
        _say(render(self.lang, "step.confirm", state["quote"]))
        await e.pay()
        state = await e.wait_for(Step.READY, Step.CONFIRM, Step.MENU, Step.TAKE_CARD, Step.DONE, timeout_s=60)
        self.fail_on(state, Step.READY)
        await e.start_print()
        state = await e.wait_for(Step.TAKE_CARD, Step.DONE, timeout_s=a.print_timeout + 60)
        if state["message"] and state["message"]["code"] != "printed":
            self.fail_on(state)
        return list(e.last_printed)

    def choices(self, item: dict[str, Any]) -> dict[str, Any]:
        a = self.args
        if a.kind == "juminhyo":
            members: list[str] = []
            if a.scope == "members":
                listed = item.get("members", [])
                try:
                    members = [listed[int(i) - 1]["member_id"] for i in a.members.split(",")]
                except (ValueError, IndexError):
                    raise SessionFailed(
                        5, f"--members takes positions 1..{len(listed)} of the household list"
                    ) from None
            return {"scope": a.scope, "members": members, "options": a.option or [], "copies": a.copies}
        if a.kind.startswith("tax_"):
            years = [y["fiscal_year"] for y in item.get("fiscal_years", []) if y["available"]]
            if not years:
                raise SessionFailed(5, "no fiscal year can be issued")
            return {"fiscal_year": a.fiscal_year or years[0], "copies": a.copies}
        return {"copies": a.copies}


async def run_session(args: argparse.Namespace) -> list[dict[str, Any]]:
    settings = kiosk_settings.load(
        argparse.Namespace(
            credentials=args.credentials,
            server=args.server,
            reader=args.reader,
            printer=args.printer,
            cups_server=args.cups_server,
            spool_dir=args.out,
            print_timeout_s=args.print_timeout,
            idle_timeout_s=600,
        )
    )
    try:
        reader = resolve_reader(settings)
    except CardError as exc:
        raise SessionFailed(3, f"{exc.code}: {exc}") from None
    engine = make_engine(settings, reader)
    engine.payment = SimulatedPaymentDevice(script=[PaymentOutcome(args.payment)])
    engine.languages = tuple(dict.fromkeys([args.language, *engine.languages]))
    async with running(engine, reader):
        return await ScriptedSession(engine, args, reader).run()


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="konbini-kiosk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("serve", help="run the kiosk app for a store terminal")
    kiosk_settings.add_arguments(s)
    p = sub.add_parser(
        "session", help="run one resident session through the engine: card, PIN, certificate, print"
    )
    p.add_argument(
        "--credentials",
        type=Path,
        default=Path(os.environ.get("KONBINI_KIOSK_CREDENTIALS", "var/kiosks/kiosk-001.json")),
        help="the credentials file konbini-ops kiosk-add wrote ($KONBINI_KIOSK_CREDENTIALS)",
    )
    p.add_argument("--server", type=http_url, help="server URL (default: from the credentials file)")
    p.add_argument("--reader", help="PC/SC reader (default: the first pcscd lists)")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a card")
    p.add_argument("--language", default="en", help="language of the messages (ja, en, ...)")
    p.add_argument(
        "--kind", default="juminhyo", choices=[k.value for k in CertificateKind], help="the certificate"
    )
    p.add_argument("--scope", default="self", choices=JUMINHYO_SCOPES, help="住民票: whose records")
    p.add_argument(
        "--members", default="", help="住民票 scope members: positions in the household list, e.g. 1,3"
    )
    p.add_argument("--option", action="append", choices=JUMINHYO_OPTIONS, help="住民票 items to include")
    p.add_argument("--fiscal-year", type=int, help="tax certificates: 年度 (default: the latest available)")
    p.add_argument("--copies", type=int, default=1, help="copies (1-10)")
    p.add_argument(
        "--payment",
        default="paid",
        choices=[o.value for o in PaymentOutcome],
        help="the simulated device's answer",
    )
    p.add_argument(
        "--out", type=Path, default=Path("out"), help="folder for certificates when no printer is named"
    )
    p.add_argument("--printer", help="CUPS queue (default: the --out folder)")
    p.add_argument("--cups-server", help="CUPS server (socket or host:port; default: the system's)")
    p.add_argument("--print-timeout", type=float, default=120.0, help="seconds a print job may take")
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv, log_level=logging.INFO, log_format=LOG_FORMAT)


def _run(args: argparse.Namespace) -> int:
    if args.command == "serve":
        asyncio.run(serve(kiosk_settings.load(args)))
        return 0
    logging.getLogger().setLevel(logging.WARNING)
    try:
        for cert in asyncio.run(run_session(args)):
            where = cert.get("path") or f"cups:{args.printer}"
            print(f"printed serial={cert['serial']} certificate={where}", flush=True)
    except SessionFailed as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
