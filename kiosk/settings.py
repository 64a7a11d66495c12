"""The kiosk app's settings, each declared once with its default and help text; read from environment
variables ``KONBINI_KIOSK_<NAME>`` and overridden by ``konbini-kiosk serve`` flags of the same name."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _s(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class KioskSettings:
    credentials: Path = _s(Path("var/kiosks/kiosk-001.json"), "kiosk credentials from konbini-ops kiosk-add")
    server: str = _s("", "server URL (default: the one in the credentials file)")
    reader: str = _s("", "PC/SC reader of the card (default: the first reader pcscd lists)")
    printer: str = _s("", "CUPS queue to print on (default: write PDFs into spool_dir, for scripts only)")
    cups_server: str = _s("", "CUPS server (socket path or host:port; default: the system's)")
    spool_dir: Path = _s(Path("out"), "folder for certificates when no CUPS queue is set")
    print_timeout_s: float = _s(120.0, "a print job not completed in this time is cancelled and refunded")
    payment: str = _s("simulated", "payment device: 'simulated' (demos and tests)")
    payment_manual: bool = _s(False, "the simulated device waits for the demo panel instead of paying")
    payment_timeout_s: float = _s(180.0, "a payment not made in this time is cancelled at the device")
    host: str = _s("127.0.0.1", "address the kiosk app listens on (keep it local)")
    port: int = _s(8480, "port of the kiosk app's local page and API")
    idle_timeout_s: float = _s(60.0, "a screen left alone this long ends the session and wipes it")
    demo: bool = _s(False, "demo controls: card and payment-device panels in the local API")
    demo_card: Path = _s(Path(""), "demo: the virtual card file the demo panel inserts into the vpcd reader")
    demo_vpcd_port: int = _s(35963, "demo: the vpcd port of the reader (35963: Virtual PCD 00 00)")


def _coerce(value: str, typ: Any) -> Any:
    if typ in (bool, "bool"):
        if value.lower() in ("1", "true", "yes", "on"):
            return True
        if value.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"not a yes/no value: {value!r}")
    return {"Path": Path, "float": float, "int": int}.get(str(getattr(typ, "__name__", typ)), str)(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    for f in dataclasses.fields(KioskSettings):
        flag = "--" + f.name.replace("_", "-")
        if f.type in (bool, "bool"):
            parser.add_argument(flag, action="store_true", default=None, help=f.metadata["help"])
        else:
            parser.add_argument(flag, default=None, help=f"{f.metadata['help']} (default: {f.default})")


def load(args: argparse.Namespace | None = None, env: dict[str, str] | None = None) -> KioskSettings:
    """Defaults, then ``KONBINI_KIOSK_*`` variables, then flags; a malformed value stops with its name."""
    env = dict(os.environ) if env is None else env
    values: dict[str, Any] = {}
    for f in dataclasses.fields(KioskSettings):
        raw = getattr(args, f.name, None) if args is not None else None
        if raw is None:
            raw = env.get(f"KONBINI_KIOSK_{f.name.upper()}")
        if raw is None:
            continue
        try:
            values[f.name] = raw if isinstance(raw, bool) else _coerce(str(raw), f.type)
        except ValueError as exc:
            _refuse(f"setting {f.name} = {raw!r}: {exc}")
    settings = KioskSettings(**values)
    if settings.host not in LOOPBACK:
        _refuse(f"setting host: the kiosk app serves its own machine only ({', '.join(LOOPBACK)})")
    if settings.payment != "simulated":
        _refuse(f"setting payment: unknown payment device {settings.payment!r} (allowed: simulated)")
    for f in dataclasses.fields(KioskSettings):
        value = getattr(settings, f.name)
        if f.name.endswith("_s") and value <= 0:
            _refuse(f"setting {f.name} = {value!r}: a number of seconds above 0")
        if f.name == "port" and not 1 <= value <= 65535:
            _refuse(f"setting port = {value!r}: a port number, 1-65535")
    return settings


def _refuse(message: str) -> NoReturn:
    """One line naming the setting and what is allowed; exit status 2, no traceback."""
    print(f"konbini-kiosk: {message}", file=sys.stderr)
    raise SystemExit(2)
