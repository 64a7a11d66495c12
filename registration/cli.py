"""``konbini-clerk``: the desk clerk's command line (the web pages come later).

Staff password: ``$KONBINI_STAFF_PASSWORD`` or a prompt. The resident's PIN: ``$KONBINI_PIN`` or a prompt
(at the desk, the resident types it on the PIN pad); it is verified on the card first, then registered.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import os
import sys
from pathlib import Path

from issuance_server.settings import load_settings
from kiosk.card_reader import CardError, JpkiCard
from registration.bootstrap import BootstrapError, bootstrap_staff
from registration.staff_auth import ROLES
from wire.http_json import HttpError, JsonClient


def _secret(env: str, prompt: str) -> str:
    value = os.environ.get(env)
    if value:
        return value
    if not sys.stdin.isatty():
        raise SystemExit(f"error: set {env} or run in a terminal to be asked")
    return getpass.getpass(prompt)


def _client(args: argparse.Namespace) -> JsonClient:
    client = JsonClient(args.server, {})
    password = _secret("KONBINI_STAFF_PASSWORD", f"password for {args.staff_id}: ")
    token = client.call(
        "POST",
        "/clerk/api/login",
        {"staff_id": args.staff_id, "password": password, "terminal": args.terminal},
    )["token"]
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def cmd_bootstrap(args: argparse.Namespace) -> int:
    settings = load_settings(args.config, data_dir=args.data_dir)
    password = _secret("KONBINI_STAFF_PASSWORD", f"new password for {args.staff_id}: ")
    try:
        bootstrap_staff(settings, args.staff_id, args.name, password, args.roles.split(","))
    except BootstrapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"staff account {args.staff_id} created with roles {args.roles}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    client = _client(args)
    try:
        with JpkiCard.connect(args.reader, timeout_s=args.wait) as card:
            cert = card.read_auth_certificate()
            pin = _secret("KONBINI_PIN", "resident's 4-digit PIN: ")
            card.verify_pin(pin)
    except CardError as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr)
        return 1
    result = client.call(
        "POST",
        "/clerk/api/registrations",
        {"atena_no": args.atena_no, "certificate": base64.b64encode(cert).decode(), "pin": pin},
    )
    print(f"registered card {result['card_id']} for resident {args.atena_no}: {result['status']}")
    return 0


def cmd_status_change(args: argparse.Namespace) -> int:
    result = _client(args).call(
        "POST", f"/clerk/api/registrations/{args.command}", {"atena_no": args.atena_no, "reason": args.reason}
    )
    print(f"{args.command}: {result['changed']} registration(s) changed")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    result = _client(args).call("GET", f"/clerk/api/registrations?atena_no={args.atena_no}")
    for reg in result["registrations"]:
        print(
            f"card {reg['card_serial']}  {reg['status']:9}  failures {reg['failures']}  since {reg['updated_at']}"
        )
    if not result["registrations"]:
        print("no registrations")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="konbini-clerk", description=__doc__)
    parser.add_argument("--server", default=os.environ.get("KONBINI_SERVER", "http://127.0.0.1:8470"))
    parser.add_argument("--staff-id", default=os.environ.get("KONBINI_STAFF_ID", ""))
    parser.add_argument("--terminal", default=os.environ.get("KONBINI_TERMINAL", os.uname().nodename))
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("bootstrap", help="create the first staff account (on the server machine)")
    p.add_argument("--config", type=Path)
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--name", default="初期管理者")
    p.add_argument(
        "--roles", default="registrar,counter,ops,auditor", help=f"comma-separated of {', '.join(ROLES)}"
    )
    p.set_defaults(func=cmd_bootstrap)
    p = sub.add_parser("register", help="read the card, verify the PIN on it, register card and PIN")
    p.add_argument("--atena-no", required=True)
    p.add_argument("--reader", help="PC/SC reader name (default: the first with a card)")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a card")
    p.set_defaults(func=cmd_register)
    for action in ("unlock", "suspend", "resume"):
        p = sub.add_parser(action, help=f"{action} kiosk use for a resident")
        p.add_argument("--atena-no", required=True)
        p.add_argument("--reason", default="")
        p.set_defaults(func=cmd_status_change)
    p = sub.add_parser("show", help="a resident's card registrations")
    p.add_argument("--atena-no", required=True)
    p.set_defaults(func=cmd_show)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.command != "bootstrap" and not args.staff_id:
        raise SystemExit("error: --staff-id (or KONBINI_STAFF_ID) is required")
    if args.command == "bootstrap" and not args.staff_id:
        raise SystemExit("error: --staff-id is required")
    try:
        sys.exit(args.func(args))
    except HttpError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
