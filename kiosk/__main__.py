"""``konbini-kiosk session``: one whole kiosk session through the card reader (PC/SC) and the server.

Card, session, card-side PIN, signature over the session nonce, server authentication, menu, issue,
fetch, print (spool folder or CUPS), printed / print-failed report, end. Errors name the cause in words a
person can act on, and exit non-zero.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import sys
from pathlib import Path
from typing import Any

from kiosk.card_reader import CardError, JpkiCard
from kiosk.printing import PrintError, print_pdf
from kiosk.session_client import KioskApi, KioskCredentials
from wire.http_json import HttpError
from wire.kiosk_api import JUMINHYO_OPTIONS, JUMINHYO_SCOPES, CertificateKind, auth_digest


class SessionFailed(Exception):
    pass


def _pin() -> str:
    pin = os.environ.get("KONBINI_PIN")
    if pin:
        return pin
    if not sys.stdin.isatty():
        raise SessionFailed("no PIN: set KONBINI_PIN or run at a terminal")
    return getpass.getpass("暗証番号 (4桁) / PIN: ")


def show_menu(items: list[dict[str, Any]]) -> None:
    """What the resident sees: each certificate with its fee, or why it cannot be issued here."""
    for item in items:
        if item["available"]:
            print(
                f"  [{item['kind']}] {item['label_ja']} / {item['label_en']}  {item['fee_yen']}円",
                file=sys.stderr,
            )
        else:
            r = item["refusal"]
            print(
                f"  [{item['kind']}] {item['label_ja']}: {r['message_ja']} / {r['message_en']}",
                file=sys.stderr,
            )


def choices(args: argparse.Namespace, item: dict[str, Any]) -> dict[str, Any]:
    """The request body's choices for the chosen kind, from the command line and the menu."""
    if args.kind == "juminhyo":
        members = None
        if args.scope == "members":
            listed = item.get("members", [])
            try:
                members = [listed[int(i) - 1]["member_id"] for i in args.members.split(",")]
            except (ValueError, IndexError):
                raise SessionFailed(
                    f"--members takes positions 1..{len(listed)} of the household list"
                ) from None
        return {"scope": args.scope, "members": members, "options": args.option or []}
    if args.kind.startswith("tax_"):
        years = [y for y in item.get("fiscal_years", []) if y["available"]]
        if args.fiscal_year is not None:
            return {"fiscal_year": args.fiscal_year}
        if not years:
            raise SessionFailed("no fiscal year can be issued")
        return {"fiscal_year": years[0]["fiscal_year"]}
    return {}


def run_session(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    api = KioskApi(KioskCredentials.load(args.credentials), args.server)
    with JpkiCard.connect(args.reader, timeout_s=args.wait) as card:
        session = api.open_session()
        sid = session["session_id"]
        if session["service"] == "closed":
            raise SessionFailed("the service is closed now; please try again later")
        try:
            cert = card.read_auth_certificate()
            pin = _pin()
            card.verify_pin(pin)
            signature = card.sign_digest(auth_digest(api.kiosk_id, sid, session["nonce"]))
            api.authenticate(sid, session["nonce"], cert, signature, pin)
            menu = api.menu(sid)
            show_menu(menu["items"])
            item = next((i for i in menu["items"] if i["kind"] == args.kind), None)
            if item is None:
                raise SessionFailed(f"this kiosk does not offer {args.kind!r}")
            if not item["available"]:
                r = item["refusal"]
                raise SessionFailed(
                    f"{item['label_ja']} cannot be issued here: {r['message_ja']} / {r['message_en']}"
                )
            issued = api.issue(sid, args.kind, args.copies, **choices(args, item))
            print(f"fee: {issued['total_fee_yen']} yen", file=sys.stderr)
            results: list[tuple[str, Path | None]] = []
            for cert_info in issued["certificates"]:
                serial = cert_info["serial"]
                pdf = api.fetch_pdf(sid, serial)
                try:
                    if args.simulate_print_failure:
                        raise PrintError("the printer reported a paper jam (simulated)")
                    path = print_pdf(pdf, serial, args.out, args.printer)
                except PrintError:
                    api.report_print(sid, serial, printed=False)
                    raise
                api.report_print(sid, serial, printed=True)
                results.append((serial, path))
            return results
        finally:
            with contextlib.suppress(HttpError):
                api.end_session(sid)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="konbini-kiosk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("session", help="run one resident session: card, PIN, certificate, print")
    p.add_argument(
        "--credentials",
        type=Path,
        default=Path(os.environ.get("KONBINI_KIOSK_CREDENTIALS", "var/kiosks/kiosk-001.json")),
    )
    p.add_argument("--server", help="server URL (default: from the credentials file)")
    p.add_argument("--reader", help="PC/SC reader (default: the first with a card)")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a card")
    p.add_argument("--kind", default="juminhyo", choices=[k.value for k in CertificateKind])
    p.add_argument("--scope", default="self", choices=JUMINHYO_SCOPES, help="住民票: whose records")
    p.add_argument(
        "--members", default="", help="住民票 scope members: positions in the household list, e.g. 1,3"
    )
    p.add_argument("--option", action="append", choices=JUMINHYO_OPTIONS, help="住民票 items to include")
    p.add_argument("--fiscal-year", type=int, help="tax certificates: 年度 (default: the latest available)")
    p.add_argument(
        "--simulate-print-failure", action="store_true", help="test: the printer fails (voids, refunds)"
    )
    p.add_argument("--copies", type=int, default=1)
    p.add_argument("--out", type=Path, default=Path("out"), help="spool folder when no printer is named")
    p.add_argument("--printer", help="CUPS printer name (default: spool folder)")
    args = parser.parse_args(argv)
    try:
        for serial, path in run_session(args):
            print(f"printed serial={serial} certificate={path or args.printer}", flush=True)
    except CardError as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr)
        sys.exit(3)
    except HttpError as exc:
        extra = f" ({exc.body['tries_left']} tries left)" if "tries_left" in exc.body else ""
        print(f"error: {exc.code}: {exc.message}{extra}", file=sys.stderr)
        sys.exit(4)
    except (SessionFailed, PrintError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(5)


if __name__ == "__main__":
    main()
