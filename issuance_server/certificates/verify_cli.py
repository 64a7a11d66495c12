"""``konbini-verify FILE_OR_QR_TEXT... [--key PATH] [--trust PATH] [--server URL [--server-ca PATH]]``:
check certificates.

Checks, in order: the QR's signed record (offline, with the city's Ed25519 public key); for a PDF that
carries a PAdES signature, that signature (against the city's issuing certificate); with ``--server``,
the serial's status at the city's ``/verify`` (still valid, or voided). An unreachable server is said on
stderr; the offline result stands but the exit status is 3 (not checked).

Prints ``VALID`` and the record's fields (``name: value``, one a line), exit 0; ``VOIDED`` (the server
says the serial was voided), exit 1; or ``INVALID <reason>``, exit 1. Usage errors (no argument, a key or
certificate file missing or unreadable) exit 2. An argument that is not an existing file is taken as the
QR text itself. With several files, each result follows a ``== FILE`` line and the exit status is the
worst of them.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, NamedTuple

from wire.cli import CommandParser, http_url, run_command

KEY_RELATIVE_PATH: Final = Path("keys") / "issuing-ed25519.pub"
TRUST_RELATIVE_PATH: Final = Path("keys") / "city-issuing.crt"
SERVER_TIMEOUT_S: Final = 10.0


def _data_dir() -> Path:
    from issuance_server.settings import load_settings

    return load_settings().data_dir


def default_key_path() -> Path:
    """``<data_dir>/keys/issuing-ed25519.pub``; ``var/keys/issuing-ed25519.pub`` with default settings."""
    return _data_dir() / KEY_RELATIVE_PATH


def default_trust_path() -> Path:
    """``<data_dir>/keys/city-issuing.crt``: the certificate PAdES signatures are checked against."""
    return _data_dir() / TRUST_RELATIVE_PATH


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a QR text longer than a file name may be
        return False


def _is_pdf(path: Path) -> bool:
    with path.open("rb") as fh:
        return fh.read(5) == b"%PDF-"


def _parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="konbini-verify",
        description="Verify a konbini certificate: its signed QR record, its PAdES signature (PDF), and "
        "with --server whether its serial is still valid.",
    )
    parser.add_argument(
        "targets", nargs="+", metavar="FILE_OR_QR_TEXT", help="certificate files, or a QR code's text"
    )
    parser.add_argument(
        "--key",
        type=Path,
        default=None,
        help="issuing public key, PEM SubjectPublicKeyInfo (default: var/keys/issuing-ed25519.pub)",
    )
    parser.add_argument(
        "--trust",
        type=Path,
        default=None,
        help="the city's issuing certificate (PEM) for PAdES signatures (default: var/keys/city-issuing.crt)",
    )
    parser.add_argument(
        "--server",
        type=http_url,
        metavar="URL",
        default=None,
        help="the issuance server (e.g. https://city.example/), asked whether the serial is still valid",
    )
    parser.add_argument(
        "--server-ca",
        type=Path,
        default=Path(os.environ["KONBINI_SERVER_CA"]) if os.environ.get("KONBINI_SERVER_CA") else None,
        help="trust this CA (PEM) for the server's certificate, e.g. the server's var/tls/city-ca.crt"
        " (default: $KONBINI_SERVER_CA, else the system's CAs)",
    )
    return parser


class ServerAnswer(NamedTuple):
    result: str  # VALID | VOIDED | UNKNOWN_SERIAL | INVALID
    serial_status: str | None
    reason: str | None


def verify_url(server: str) -> str:
    """The ``POST /verify`` URL of a server given by its base URL (or by that URL itself)."""
    base = server.rstrip("/")
    return base if base.endswith("/verify") else f"{base}/verify"


def ask_server(
    server: str, qr_text: str, timeout: float = SERVER_TIMEOUT_S, server_ca: Path | None = None
) -> ServerAnswer | None:
    """The server's view of the record; ``None`` if it cannot be reached or answers nonsense."""
    import json  # here, as the client: a check without --server does not load them
    import ssl

    from wire.http_json import HttpError, JsonClient

    context = ssl.create_default_context(cafile=str(server_ca)) if server_ca is not None else None
    client = JsonClient(verify_url(server), {"Accept": "application/json"}, timeout, context)
    try:
        http_status, data, _ = client.request("POST", "", {"qr_text": qr_text})
        answer: Any = json.loads(data[: 1 << 20]) if http_status < 400 else None
    except (HttpError, ValueError):
        return None
    if not isinstance(answer, dict) or answer.get("result") not in (
        "VALID",
        "VOIDED",
        "UNKNOWN_SERIAL",
        "INVALID",
    ):
        return None
    status, reason = answer.get("serial_status"), answer.get("reason")
    return ServerAnswer(
        result=str(answer["result"]),
        serial_status=str(status) if status is not None else None,
        reason=str(reason) if reason is not None else None,
    )


def _fail(reason: str, detail: str | None = None) -> int:
    print(f"INVALID {reason}")
    if detail:
        print(f"konbini-verify: {detail}", file=sys.stderr)
    return 1


def _usage(message: str) -> int:
    print(f"konbini-verify: {message}", file=sys.stderr)
    return 2


def _check_pades(path: Path, trust: Path | None) -> tuple[int | None, str]:
    """(exit code if the check ends the run, the line to print): absent signatures are fine."""
    pdf = path.read_bytes()
    # A signature says which bytes it covers in a /ByteRange written plainly in the file (its value sits
    # at those offsets, so never in a compressed object stream): without one, there is no signature to
    # look for, and pyHanko (0.3 s to import) is not loaded.
    if b"/ByteRange" not in pdf:
        return None, "pades: none"
    from issuance_server.certificates import pades

    if not pades.has_signature(pdf):
        return None, "pades: none"
    try:
        trust_path = trust if trust is not None else default_trust_path()
    except (OSError, ValueError) as exc:
        return _usage(f"cannot read settings: {exc}"), ""
    if not trust_path.is_file():
        return _usage(f"certificate file not found: {trust_path} (the PDF is PAdES-signed; use --trust)"), ""
    try:
        result = pades.validate_pdf(pdf, trust_path)
    except (OSError, ValueError) as exc:
        return _usage(f"not a PEM certificate: {trust_path} ({exc})"), ""
    if not result.valid:
        return _fail(f"pades_{result.reason}"), ""
    return None, f"pades: valid ({result.signer})"


UNCHECKED: Final = 3  # the record verified, but the server asked about it could not be reached


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(_parser(), _run, argv, private=False)


def _run(args: argparse.Namespace) -> int:
    from wire.cert_record import load_public_key

    try:
        key_path = args.key if args.key is not None else default_key_path()
    except (OSError, ValueError) as exc:
        return _usage(f"cannot read settings: {exc}")
    if not key_path.is_file():
        return _usage(
            f"key file not found: {key_path} (the server writes it to <data_dir>/keys/ on first start; use --key)"
        )
    try:
        public_key = load_public_key(key_path)
    except (OSError, ValueError) as exc:
        return _usage(f"not an Ed25519 public key in PEM: {key_path} ({exc})")
    if args.server and args.server_ca is not None and not args.server_ca.exists():
        return _usage(f"CA file not found: {args.server_ca}")
    worst = 0
    for target in args.targets:
        if len(args.targets) > 1:
            print(f"== {target}")
        worst = max(worst, _verify_one(target, public_key, args))
    return worst


def _verify_one(target_text: str, public_key: Any, args: argparse.Namespace) -> int:
    from wire.cert_qr import VerifyError, extract_record_text, verify_text

    target = Path(target_text)
    is_file = _is_file(target)
    if is_file:
        try:
            text = extract_record_text(target)
        except VerifyError as exc:
            return _fail(exc.reason, exc.detail)
    else:
        text = target_text
    outcome = verify_text(text, public_key)
    if not outcome.valid or outcome.record is None:
        return _fail(str(outcome.reason))
    extra: list[str] = []
    code = 0
    if is_file and _is_pdf(target):
        ended, line = _check_pades(target, args.trust)
        if ended is not None:
            return ended
        extra.append(line)
    if args.server:
        answer = ask_server(args.server, text, server_ca=args.server_ca)
        if answer is None:
            print(f"konbini-verify: {args.server} not reachable; serial status not checked", file=sys.stderr)
            extra.append("serial_status: not checked")
            code = UNCHECKED
        elif answer.result == "VOIDED":
            print("VOIDED")
            print(f"serial: {outcome.record.serial}")
            return 1
        elif answer.result == "UNKNOWN_SERIAL":
            return _fail("unknown_serial")
        elif answer.result == "INVALID":
            return _fail(f"server_{answer.reason or 'rejected'}")
        else:
            extra.append(f"serial_status: {answer.serial_status}")
    print("VALID")
    for name, value in outcome.record.fields():
        print(f"{name}: {value}")
    for line in extra:
        print(line)
    return code


if __name__ == "__main__":
    sys.exit(main())
