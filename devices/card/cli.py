"""``konbini-card``: the demo card CA, card personalisation, running a virtual card, reading a card.

Errors are printed as one line ``konbini-card: error <code>: <message>`` with exit status 1 (2 for a bad
signature password given to ``personalise``). No PIN or password is ever printed.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from datetime import date, datetime
from pathlib import Path
from types import FrameType

from cryptography import x509

from devices.card.errors import CardError, CertificateNeedsPin
from devices.card.jpki import JpkiCard, card_id_from_certificate
from devices.card.pcscd import PcscdSetupError
from devices.card.virtual.applet import VirtualCard
from devices.card.virtual.ca import (
    CRL_NAME,
    CardCaError,
    SignPasswordFormatError,
    init_ca,
    issue_card,
    revoke,
    validate_sign_password,
    write_crl,
)
from devices.card.virtual.state import CardFileError, load_state
from devices.card.virtual.vpcd import run_card
from wire.card_identity import SEX_CODES, CardIdentity
from wire.cli import CommandParser, run_command
from wire.credentials import DEMO_POLICY_OIDS, Form, phone_form_of

PROG = "konbini-card"
CARD_CA_DIR = Path("var/card-ca")
PHONE_CA_DIR = Path("var/phone-ca")


class _CliError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _cmd_init_ca(args: argparse.Namespace) -> None:
    ca_dir: Path = args.dir or (PHONE_CA_DIR if args.phone else CARD_CA_DIR)
    existed = (ca_dir / "ca.crt").exists()
    init_ca(ca_dir, phone=args.phone)
    state = "already exists" if existed else "created"
    print(f"{'smartphone' if args.phone else 'card'} CA {state}: {ca_dir / 'ca.crt'}")


def _cmd_personalise(args: argparse.Namespace) -> None:
    if args.sign_password is not None:
        try:
            validate_sign_password(args.sign_password)
        except SignPasswordFormatError as exc:
            raise _CliError(exc.code, str(exc)) from None
    not_before = datetime.fromisoformat(args.not_before) if args.not_before else None
    form = Form(args.form)
    card_id = issue_card(
        args.ca_dir or (CARD_CA_DIR if form is Form.CARD else PHONE_CA_DIR),
        args.out,
        args.pin,
        args.card_id,
        args.valid_days,
        not_before,
        sign_password=args.sign_password,
        identity=_identity(args),
        identity_pin=args.identity_pin,
        form=form,
    )
    print(card_id)


def _identity(args: argparse.Namespace) -> CardIdentity | None:
    """The identity application's four fields from ``--identity FILE`` (JSON: name, address, birth_date,
    sex M/F, as ``konbini-registry card-identity`` writes it)."""
    if args.identity is None:
        return None
    try:
        held = json.loads(args.identity.read_text(encoding="utf-8"))
        birth = str(held["birth_date"])
        date.fromisoformat(birth)
        return CardIdentity(str(held["name"]), str(held["address"]), birth, SEX_CODES.get(held["sex"], "3"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _CliError(
            "bad_identity",
            f"{args.identity}: not a card identity (JSON name, address, birth_date YYYY-MM-DD,"
            f" sex): {type(exc).__name__}",
        ) from None


def _cmd_revoke(args: argparse.Namespace) -> None:
    serial = revoke(args.ca_dir, load_state(args.card_file).certificate_der)
    print(f"card certificate {serial:x} revoked; CRL re-signed: {args.ca_dir / CRL_NAME}")


def _cmd_crl(args: argparse.Namespace) -> None:
    print(f"CRL re-signed (valid a day): {write_crl(args.ca_dir)}")


def _cmd_run(args: argparse.Namespace) -> None:
    card = VirtualCard.from_file(args.card_file)
    stop = threading.Event()
    signalled: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only a plain list here: Event.set() takes a lock the interrupted main thread may hold (a hang).
        signalled.append(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    what = "card" if card.form == "card" else f"{card.form} phone"

    def on_inserted() -> None:
        print(f"{what} {card.card_id} inserted in vpcd port {args.port}", flush=True)

    worker = threading.Thread(
        target=run_card, args=(args.card_file, args.host, args.port, stop, on_inserted), kwargs={"card": card},
        name="virtual-card", daemon=True,
    )  # fmt: skip
    worker.start()
    while not signalled and worker.is_alive():
        time.sleep(0.1)
    stop.set()
    worker.join()
    print(f"{what} {card.card_id} removed", flush=True)


def _cmd_info(args: argparse.Namespace) -> None:
    with JpkiCard.connect(args.reader, timeout_s=args.timeout) as card:
        try:
            cert_der = card.read_auth_certificate()
        except CertificateNeedsPin:
            print(f"reader: {card.reader}")
            print("form: android phone (its certificate is shown only after its PIN)")
            print(f"PIN tries left: {card.pin_tries_left()}")
            return
        form = phone_form_of(x509.load_der_x509_certificate(cert_der), DEMO_POLICY_OIDS) or Form.CARD
        tries = None if form is Form.IPHONE else card.pin_tries_left()
        reader = card.reader
    cert = x509.load_der_x509_certificate(cert_der)
    print(f"form: {form.value}" + (" (by the demo policy OIDs)" if form is not Form.CARD else ""))
    print(f"reader: {reader}")
    print(f"card id: {card_id_from_certificate(cert_der)}")
    print(f"certificate serial: {cert.serial_number:x}")
    print(f"certificate issuer: {cert.issuer.rfc4514_string()}")
    print(f"valid: {cert.not_valid_before_utc.isoformat()} .. {cert.not_valid_after_utc.isoformat()}")
    print(f"PIN tries left: {'none at the terminal (Face ID on the phone)' if tries is None else tries}")


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog=PROG, description="Virtual My Number (JPKI) cards for konbini.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    sub = parser.add_subparsers(dest="command", required=True)

    p_ca = sub.add_parser("init-ca", help="create the demo card CA or smartphone CA (never overwrites)")
    p_ca.add_argument(
        "--dir", type=Path, default=None, help="CA folder (default var/card-ca, with --phone var/phone-ca)"
    )
    p_ca.add_argument(
        "--phone", action="store_true", help="the smartphone CA (スマホ用電子証明書), with its own CRL"
    )
    p_ca.set_defaults(func=_cmd_init_ca)

    p_pers = sub.add_parser("personalise", aliases=["personalize"], help="make a virtual card file")
    p_pers.add_argument("--pin", required=True, help="the card's 4-digit PIN (authentication PIN, EF 0018)")
    p_pers.add_argument(
        "--sign-password",
        default=None,
        help="the signature password (EF 001B): 6-16 upper-case letters A-Z and digits 0-9; "
        "when omitted a random one is generated and kept only in the card file",
    )
    p_pers.add_argument("--card-id", default=None, help="card id (certificate CN); random if omitted")
    p_pers.add_argument("--out", type=Path, required=True, help="card file to create (JSON, mode 0600)")
    p_pers.add_argument(
        "--ca-dir", type=Path, default=None, help="CA folder (default var/card-ca; a phone's var/phone-ca)"
    )
    p_pers.add_argument(
        "--form",
        choices=[f.value for f in Form],
        default=Form.CARD.value,
        help="card (default), or a phone: android (asks its PIN like a card) or iphone (signs without a PIN:"
        " the phone verified its owner with Face ID)",
    )
    p_pers.add_argument("--valid-days", type=int, default=1825, help="certificate validity (default 1825)")
    p_pers.add_argument("--not-before", default=None, help="certificate start, ISO 8601 (default now)")
    p_pers.add_argument(
        "--identity",
        type=Path,
        help="the holder's identity for the card's 券面事項入力補助 application: a JSON file as `konbini-registry"
        " card-identity ATENA_NO` writes (without it the card has no such application)",
    )
    p_pers.add_argument("--identity-pin", help="the identity application's 4-digit PIN (default: --pin)")
    p_pers.set_defaults(func=_cmd_personalise)

    p_rev = sub.add_parser("revoke", help="revoke a card (lost or stolen): it joins the CA's CRL")
    p_rev.add_argument("card_file", type=Path, metavar="CARDFILE", help="the card file of the lost card")
    p_rev.add_argument("--ca-dir", type=Path, default=Path("var/card-ca"), help="CA folder")
    p_rev.set_defaults(func=_cmd_revoke)

    p_crl = sub.add_parser("crl", help="re-sign the CA's CRL (it is valid for a day; run it daily)")
    p_crl.add_argument("--ca-dir", type=Path, default=Path("var/card-ca"), help="CA folder")
    p_crl.set_defaults(func=_cmd_crl)

    p_run = sub.add_parser("run", help="insert a virtual card into vpcd until SIGTERM/SIGINT")
    p_run.add_argument("card_file", type=Path, metavar="CARDFILE", help="the card file to insert")
    p_run.add_argument(
        "--port", type=int, default=35963, help="vpcd port: 35963 = 'Virtual PCD 00 00', 35964 = '00 01'"
    )
    p_run.add_argument("--host", default="127.0.0.1", help="vpcd host (default 127.0.0.1)")
    p_run.set_defaults(func=_cmd_run)

    p_info = sub.add_parser("info", help="read a card through PC/SC: card id and PIN tries left")
    p_info.add_argument("--reader", default=None, help="reader name (default: the first with a card)")
    p_info.add_argument("--timeout", type=float, default=0.0, help="seconds to wait for a card (default 0)")
    p_info.set_defaults(func=_cmd_info)
    return parser


def main(argv: list[str] | None = None) -> int:
    return run_command(
        _parser(),
        _run,
        argv,
        log_level=lambda args: logging.DEBUG if args.verbose else logging.WARNING,
        log_format=f"{PROG}: %(levelname)s: %(message)s",
    )


def _run(args: argparse.Namespace) -> int:
    try:
        args.func(args)
    except _CliError as exc:
        return _fail(exc.code, exc.message, status=2)
    except CardError as exc:
        return _fail(exc.code, exc.message)
    except (CardCaError, PcscdSetupError) as exc:
        return _fail("card_ca" if isinstance(exc, CardCaError) else "pcscd_setup", str(exc))
    except CardFileError as exc:
        return _fail("card_file", str(exc))
    except FileExistsError as exc:
        return _fail("file_exists", str(exc))
    except ValueError as exc:
        return _fail("bad_argument", str(exc))
    except OSError as exc:
        return _fail("os_error", f"{exc.filename or ''} {exc.strerror or exc}".strip())
    return 0


def _fail(code: str, message: str, status: int = 1) -> int:
    print(f"{PROG}: error {code}: {message}", file=sys.stderr, flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
