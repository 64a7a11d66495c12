"""``konbini-clerk``: the desk clerk's command line (the web pages come later).

Staff password: ``$KONBINI_STAFF_PASSWORD`` or a prompt. The resident's PIN: ``$KONBINI_PIN`` or a prompt
(at the desk, the resident types it on the PIN pad); it is verified on the card first, then registered.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import urllib.parse
from pathlib import Path

from devices.card.errors import CardError
from devices.card.jpki import JpkiCard
from issuance_server.settings import settings_or_exit
from issuance_server.staff.bootstrap import BootstrapError, bootstrap_staff
from wire.card_identity import challenge_digest, registration_body
from wire.cli import CommandParser, http_url, run_command
from wire.files import OutputError, writable_folder
from wire.http_json import HttpError, JsonClient, server_ca_context
from wire.kiosk_api import JUMINHYO_OPTIONS, JUMINHYO_SCOPES, CertificateKind
from wire.roles import ROLES
from wire.staff_session import (
    StaffLoginError,
    ask,
    confirm_enrolment,
    end_session,
    qr_text,
    session_file,
    staff_session,
    start_enrolment,
)


def _server(args: argparse.Namespace) -> JsonClient:
    return JsonClient(args.server, {}, ssl_context=server_ca_context(args.server, args.server_ca))


def _client(args: argparse.Namespace) -> JsonClient:
    """The server as this staff member: the kept session, or a login (password and TOTP code)."""
    return staff_session(_server(args), args.staff_id, args.terminal)


def cmd_login(args: argparse.Namespace) -> int:
    client = staff_session(_server(args), args.staff_id, args.terminal, fresh=True)
    roles = client.call("GET", "/clerk/api/me")["roles"]
    print(
        f"logged in as {args.staff_id} ({', '.join(roles)}); the session is kept in"
        f" {session_file(args.staff_id, args.server)} and ends after 15 idle minutes or konbini-clerk logout"
    )
    return 0


def cmd_logout(args: argparse.Namespace) -> int:
    ended = end_session(_server(args), args.staff_id)
    print("logged out" if ended else "no kept session to end")
    return 0


def cmd_totp_enrol(args: argparse.Namespace) -> int:
    answer = start_enrolment(_server(args), args.staff_id, args.terminal)
    print(qr_text(answer["otpauth_uri"]))
    print(f"scan the QR code with your authenticator app, or type the key: {answer['secret']}")
    print(f"otpauth URI: {answer['otpauth_uri']}")
    print("then: konbini-clerk totp-confirm (with a code the app shows); this key is not shown again")
    return 0


def cmd_totp_confirm(args: argparse.Namespace) -> int:
    codes = confirm_enrolment(_server(args), args.staff_id, args.terminal)
    print(f"second factor enrolled for {args.staff_id}; you are logged in.")
    print(
        "recovery codes (each works once in place of a code; keep them on paper, they are not shown again):"
    )
    for code in codes:
        print(f"  {code}")
    return 0


def cmd_staff(args: argparse.Namespace) -> int:
    """Staff administration (role admin)."""
    client = _client(args)
    base = "/clerk/api/admin/staff"
    if args.action == "list":
        for s in client.call("GET", base)["staff"]:
            flags = [f for f, on in (("inactive", not s["active"]), ("LOCKED", s["locked"])) if on]
            factor = "totp" if s["second_factor"] else "no second factor yet"
            if s["pending_roles"] is not None:
                flags.append(
                    f"waiting for approval: {','.join(s['pending_roles'])} (asked by {s['pending_by']})"
                )
            print(f"{s['staff_id']}\t{','.join(s['roles'])}\t{factor}\t{' '.join(flags)}")
        return 0
    if not args.target:
        raise SystemExit(f"error: staff {args.action} needs the staff id (STAFF_ID)")
    target = f"{base}/{args.target}"
    if args.action == "add":
        body = {
            "staff_id": args.target,
            "display_name": args.name or args.target,
            "roles": args.roles.split(","),
        }
        client.call("POST", base, body)
        print(f"staff account {args.target} asked for ({args.roles}): another administrator approves it")
    elif args.action == "approve":
        hand_over = ""
        try:  # the server first says whether you may approve; a new account then needs its password
            approved = client.call("POST", f"{target}/approve", {})
        except HttpError as exc:
            if exc.status != 400 or exc.body.get("field") != "password":
                raise
            password = ask("KONBINI_NEW_STAFF_PASSWORD", f"temporary password for {args.target}: ")
            approved = client.call("POST", f"{target}/approve", {"password": password})
            hand_over = "; hand over the temporary password"
        print(f"{args.target}: {','.join(approved['roles'])} in force{hand_over}")
    elif args.action == "reject":
        client.call("POST", f"{target}/reject")
        print(f"{args.target}: the roles asked for are dropped")
    elif args.action == "roles":
        changed = client.call("PATCH", target, {"roles": args.roles.split(",")})
        waiting = (
            f" (waiting for approval: {','.join(changed['pending_roles'])})"
            if changed["pending_roles"]
            else ""
        )
        print(f"{args.target}: {','.join(changed['roles'])}{waiting}")
    elif args.action in ("deactivate", "activate"):
        client.call("PATCH", target, {"active": args.action == "activate"})
        print(f"{args.target} {args.action}d")
    elif args.action == "password":
        password = ask("KONBINI_NEW_STAFF_PASSWORD", f"temporary password for {args.target}: ")
        client.call("POST", f"{target}/password", {"password": password})
        print(f"temporary password set for {args.target}; their sessions ended")
    elif args.action == "reset-totp":
        client.call("POST", f"{target}/totp-reset")
        print(f"second factor of {args.target} reset: they enrol again at their next login")
    elif args.action == "unlock":
        client.call("POST", f"{target}/unlock")
        print(f"{args.target} unlocked")
    return 0


def cmd_bootstrap(args: argparse.Namespace) -> int:
    settings = settings_or_exit("konbini-clerk", args.config, data_dir=args.data_dir)
    password = ask("KONBINI_STAFF_PASSWORD", f"new password for {args.staff_id}: ")
    try:
        bootstrap_staff(settings, args.staff_id, args.name, password, args.roles.split(","))
    except BootstrapError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"staff account {args.staff_id} created with roles {args.roles}")
    return 0


def cmd_register(args: argparse.Namespace) -> int:
    client = _client(args)
    challenge = base64.b64decode(client.call("POST", "/clerk/api/registrations/challenge")["challenge"])
    try:
        with JpkiCard.connect(args.reader, timeout_s=args.wait) as card:
            cert = card.read_auth_certificate()
            pin = ask("KONBINI_PIN", "resident's 4-digit PIN: ")
            card.verify_pin(pin)
            card_signature = card.sign_digest(challenge_digest(challenge))
            identity_pin = ask(
                "KONBINI_IDENTITY_PIN",
                "the 4-digit PIN of the card's identity (券面事項入力補助用暗証番号): ",
            )
            basic_four, signed, identity_signature = card.read_identity(identity_pin, challenge)
    except CardError as exc:
        print(f"error: {exc.code}: {exc}", file=sys.stderr)
        return 1
    result = client.call("POST", "/clerk/api/registrations", registration_body(
        args.atena_no, pin, challenge, cert, card_signature, (basic_four, signed, identity_signature)
    ))  # fmt: skip
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
            f"{reg['form']:7} {reg['card_serial']}  serial {reg.get('cert_serial') or '-'}  {reg['status']:9}"
            f"  failures {reg['failures']} (the resident's)  since {reg['updated_at']}"
        )
    if not result["registrations"]:
        print("no registrations")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    query = urllib.parse.urlencode(
        {
            k: v
            for k, v in (("name", args.name), ("atena_no", args.atena_no), ("birth_date", args.birth_date))
            if v
        }
    )
    found = _client(args).call("GET", f"/clerk/api/residents?{query}")["residents"]
    for r in found:
        print(
            f"{r['atena_no']}  {r['name']}（{r['name_kana']}）  {r['birth_date']}  {r['address']}"
            f" {r['katagaki'] or ''}  {r['status']}  個人番号 {r['kojin_bango']}"
        )
    print(f"{len(found)} found")
    return 0


def cmd_mynumber(args: argparse.Namespace) -> int:
    """One resident's 個人番号 (role mynumber), for the reason given (audited)."""
    query = urllib.parse.urlencode({"reason": args.reason})
    shown = _client(args).call("GET", f"/clerk/api/residents/{args.atena_no}/mynumber?{query}")
    print(f"{shown['atena_no']}\t{shown['kojin_bango']}")
    return 0


def cmd_issue(args: argparse.Namespace) -> int:
    """Counter issuance (recovery mode): issue, save the PDF (print it from there), report printed."""
    client = _client(args)
    writable_folder(args.out)  # before anything is issued: an issued certificate is never lost
    body = {
        "atena_no": args.atena_no,
        "kind": args.kind,
        "scope": args.scope,
        "copies": args.copies,
        "members": [m for m in args.members.split(",") if m],
        "options": args.option or [],
        "fiscal_year": args.fiscal_year,
    }
    issued = client.call("POST", "/clerk/api/counter/certificates", body)
    for cert in issued["certificates"]:
        path = args.out / f"counter-{cert['serial']}.pdf"
        path.write_bytes(client.fetch(f"/clerk/api/counter/certificates/{cert['serial']}/pdf"))
        client.call(
            "POST", f"/clerk/api/counter/certificates/{cert['serial']}/print-report", {"printed": True}
        )
        print(f"issued serial={cert['serial']} certificate={path} fee={cert['fee_yen']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="konbini-clerk", description=__doc__)
    parser.add_argument(
        "--server",
        type=http_url,
        default=os.environ.get("KONBINI_SERVER", "https://127.0.0.1:8470"),
        help="the issuance server ($KONBINI_SERVER)",
    )
    parser.add_argument(
        "--server-ca",
        type=Path,
        default=Path(os.environ.get("KONBINI_SERVER_CA", "var/tls/city-ca.crt")),
        help="the CA that signed the server's certificate (the server's <data_dir>/tls/city-ca.crt)",
    )
    parser.add_argument(
        "--staff-id", default=os.environ.get("KONBINI_STAFF_ID", ""), help="your staff id ($KONBINI_STAFF_ID)"
    )
    parser.add_argument(
        "--terminal",
        default=os.environ.get("KONBINI_TERMINAL", os.uname().nodename),
        help="this desk computer's name, recorded in the audit log beside its address ($KONBINI_TERMINAL, else the host name)",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser(
        "bootstrap",
        help="create the first staff account, or a second administrator while only one exists (on the server"
        " machine)",
    )
    p.add_argument("--config", type=Path, help="the server's TOML settings file (default: $KONBINI_CONFIG)")
    p.add_argument("--data-dir", type=Path, help="the server's data folder (default: from the settings, var)")
    p.add_argument("--name", default="初期管理者", help="the account's display name")
    p.add_argument(
        "--roles",
        default="registrar,counter,ops,auditor,admin",
        help=f"comma-separated of {', '.join(ROLES)}",
    )
    p.set_defaults(func=cmd_bootstrap)
    p = sub.add_parser(
        "login", help="log in (password and TOTP code) and keep the session for the next commands"
    )
    p.set_defaults(func=cmd_login)
    p = sub.add_parser("logout", help="end the kept session")
    p.set_defaults(func=cmd_logout)
    p = sub.add_parser("totp-enrol", help="first login: show the QR code of a new second factor (once)")
    p.set_defaults(func=cmd_totp_enrol)
    p = sub.add_parser(
        "totp-confirm", help="confirm the new second factor with a code; prints recovery codes"
    )
    p.set_defaults(func=cmd_totp_confirm)
    p = sub.add_parser("staff", help="staff administration (role admin)")
    p.add_argument(
        "action",
        choices=[
            "list",
            "add",
            "approve",
            "reject",
            "roles",
            "deactivate",
            "activate",
            "password",
            "reset-totp",
            "unlock",
        ],
        help="what to do (add and roles granting more wait for another administrator's approve); approving a"
        " new account and password take the temporary password from $KONBINI_NEW_STAFF_PASSWORD or a prompt",
    )
    p.add_argument("target", nargs="?", metavar="STAFF_ID", help="the staff member (all but list)")
    p.add_argument("--name", default="", help="add: the display name (default: the staff id)")
    p.add_argument("--roles", default="registrar", help=f"add, roles: comma-separated of {', '.join(ROLES)}")
    p.set_defaults(func=cmd_staff)
    p = sub.add_parser("register", help="read the card, verify the PIN on it, register card and PIN")
    p.add_argument("--atena-no", required=True, help="the resident's 宛名番号")
    p.add_argument("--reader", help="PC/SC reader name (default: the first with a card)")
    p.add_argument("--wait", type=float, default=10.0, help="seconds to wait for a card")
    p.set_defaults(func=cmd_register)
    for action in ("unlock", "suspend", "resume"):
        p = sub.add_parser(action, help=f"{action} kiosk use for a resident")
        p.add_argument("--atena-no", required=True, help="the resident's 宛名番号")
        p.add_argument(
            "--reason", default="", help="why (recorded in the audit log), e.g. 'card reported lost'"
        )
        p.set_defaults(func=cmd_status_change)
    p = sub.add_parser("search", help="look residents up (role counter or registrar)")
    p.add_argument(
        "--name", "--kana", default="", help="a name as typed: kana, kanji (吉田 finds 𠮷田) or alphabet"
    )
    p.add_argument("--atena-no", default="", help="search by 宛名番号")
    p.add_argument("--birth-date", default="", help="YYYY-MM-DD")
    p.set_defaults(func=cmd_search)
    p = sub.add_parser(
        "mynumber", help="one resident's 個人番号 unmasked, with a reason (role mynumber; audited)"
    )
    p.add_argument("--atena-no", required=True, help="the resident's 宛名番号")
    p.add_argument("--reason", required=True, help="why you need it (in the audit log)")
    p.set_defaults(func=cmd_mynumber)
    p = sub.add_parser("issue", help="issue a certificate at the counter (recovery mode, role counter)")
    p.add_argument("--atena-no", required=True, help="the resident's 宛名番号")
    p.add_argument(
        "--kind", default="juminhyo", choices=[k.value for k in CertificateKind], help="the certificate"
    )
    p.add_argument("--scope", default="self", choices=JUMINHYO_SCOPES, help="住民票: whose records")
    p.add_argument("--members", default="", help="scope members: 宛名番号 separated by commas")
    p.add_argument(
        "--option", action="append", choices=JUMINHYO_OPTIONS, help="住民票 items to include (repeat)"
    )
    p.add_argument("--fiscal-year", type=int, help="tax certificates: 年度 (default: the latest available)")
    p.add_argument("--copies", type=int, default=1, help="copies (1-10)")
    p.add_argument("--out", type=Path, default=Path("out/counter"), help="folder the PDFs are written to")
    p.set_defaults(func=cmd_issue)
    p = sub.add_parser("show", help="a resident's card registrations")
    p.add_argument("--atena-no", required=True, help="the resident's 宛名番号")
    p.set_defaults(func=cmd_show)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    if args.command != "bootstrap" and not args.staff_id:
        raise SystemExit("error: --staff-id (or KONBINI_STAFF_ID) is required")
    if args.command == "bootstrap" and not args.staff_id:
        raise SystemExit("error: --staff-id is required")
    try:
        code: int = args.func(args)
    except HttpError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 1
    except (FileNotFoundError, OutputError, StaffLoginError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
