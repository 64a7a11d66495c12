"""``konbini-verify FILE_OR_QR_TEXT [--key PATH]``: check a certificate's signed QR record offline.

Prints ``VALID`` and the record's fields (``name: value``, one a line), exit 0; or ``INVALID <reason>``,
exit 1. Usage errors (no argument, key file missing or not an Ed25519 public key) exit 2. An argument that
is not an existing file is taken as the QR text itself.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Final

KEY_RELATIVE_PATH: Final = Path("keys") / "issuing-ed25519.pub"


def default_key_path() -> Path:
    """``<data_dir>/keys/issuing-ed25519.pub``; ``var/keys/issuing-ed25519.pub`` with default settings."""
    from issuance_server.settings import load_settings

    return load_settings().data_dir / KEY_RELATIVE_PATH


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # e.g. a QR text longer than a file name may be
        return False


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="konbini-verify",
        description="Verify the signed QR record of a konbini certificate (PDF, PNG/JPEG, or the QR text).",
    )
    parser.add_argument("target", metavar="FILE_OR_QR_TEXT", help="certificate file, or the QR code's text")
    parser.add_argument(
        "--key",
        type=Path,
        default=None,
        help="issuing public key, PEM SubjectPublicKeyInfo (default: var/keys/issuing-ed25519.pub)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from issuance_server.certificates.record import load_public_key

    try:
        key_path = args.key if args.key is not None else default_key_path()
    except (OSError, ValueError) as exc:
        print(f"konbini-verify: cannot read settings: {exc}", file=sys.stderr)
        return 2
    if not key_path.is_file():
        print(
            f"konbini-verify: key file not found: {key_path} (the server writes it on first start; use --key)",
            file=sys.stderr,
        )
        return 2
    try:
        public_key = load_public_key(key_path)
    except (OSError, ValueError) as exc:
        print(f"konbini-verify: not an Ed25519 public key in PEM: {key_path} ({exc})", file=sys.stderr)
        return 2

    from issuance_server.certificates.verify import VerifyError, extract_record_text, verify_text

    target = Path(args.target)
    if _is_file(target):
        try:
            text = extract_record_text(target)
        except VerifyError as exc:
            print(f"INVALID {exc.reason}")
            print(f"konbini-verify: {exc.detail}", file=sys.stderr)
            return 1
    else:
        text = args.target
    outcome = verify_text(text, public_key)
    if not outcome.valid or outcome.record is None:
        print(f"INVALID {outcome.reason}")
        return 1
    print("VALID")
    for name, value in outcome.record.fields():
        print(f"{name}: {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
