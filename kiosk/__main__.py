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

from kiosk.card_reader import CardError, JpkiCard
from kiosk.printing import PrintError, print_pdf
from kiosk.session_client import KioskApi, KioskCredentials
from wire.http_json import HttpError
from wire.kiosk_api import auth_digest


class SessionFailed(Exception):
    pass


def _pin() -> str:
    pin = os.environ.get("KONBINI_PIN")
    if pin:
        return pin
    if not sys.stdin.isatty():
        raise SessionFailed("no PIN: set KONBINI_PIN or run at a terminal")
    return getpass.getpass("暗証番号 (4桁) / PIN: ")


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
            item = next((i for i in menu["items"] if i["kind"] == args.kind), None)
            if item is None:
                raise SessionFailed(f"this kiosk does not offer {args.kind!r}")
            if not item["available"]:
                r = item["refusal"]
                raise SessionFailed(
                    f"{item['label_ja']} cannot be issued here: {r['message_ja']} / {r['message_en']}"
                )
            issued = api.issue(sid, args.kind, args.copies)
            print(f"fee: {issued['total_fee_yen']} yen", file=sys.stderr)
            results: list[tuple[str, Path | None]] = []
            for cert_info in issued["certificates"]:
                serial = cert_info["serial"]
                pdf = api.fetch_pdf(sid, serial)
                try:
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
    p.add_argument("--kind", default="juminhyo")
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
