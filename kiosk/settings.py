"""The kiosk app's settings, each declared once with its default, help text and check (:mod:`wire.settings`);
read from environment variables ``KONBINI_KIOSK_<NAME>`` and overridden by ``konbini-kiosk serve`` flags of
the same name."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from wire.settings import SettingsLoader, not_negative, port_number, seconds_above_zero, setting

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def _local_host(host: str) -> str | None:
    return None if host in LOOPBACK else f"the kiosk app serves its own machine only ({', '.join(LOOPBACK)})"


def _payment_device(name: str) -> str | None:
    return None if name == "simulated" else f"unknown payment device {name!r} (allowed: simulated)"


@dataclass(frozen=True)
class KioskSettings:
    credentials: Path = setting(
        Path("var/kiosks/kiosk-001.json"), "kiosk credentials from konbini-ops kiosk-add"
    )
    server: str = setting("", "server URL (default: the one in the credentials file)")
    data_dir: Path = setting(
        Path(""),
        "the terminal's own files: its journal (journal.sqlite3) and the simulated payment device's ledger"
        " (default: <credentials>-data beside the credentials file)",
    )
    reader: str = setting("", "PC/SC reader of the card (default: the first reader pcscd lists)")
    printer: str = setting(
        "", "CUPS queue to print on (default: write PDFs into spool_dir, for scripts only)"
    )
    retry_s: float = setting(
        15.0,
        "a step whose answer was lost (a server node died, the load balancer found none) is tried again for"
        " this long, seconds; 0: never",
        check=not_negative,
    )
    cups_server: str = setting("", "CUPS server (socket path or host:port; default: the system's)")
    spool_dir: Path = setting(Path("out"), "folder for certificates when no CUPS queue is set")
    print_timeout_s: float = setting(
        120.0, "a print job not completed in this time is cancelled and refunded", check=seconds_above_zero
    )
    doubt_retry_s: float = setting(
        30.0,
        "a print in doubt (the printer stopped answering with the job) is asked of the printer again this"
        " often, seconds, between residents",
        check=seconds_above_zero,
    )
    payment: str = setting(
        "simulated", "payment device: 'simulated' (demos and tests)", check=_payment_device
    )
    payment_manual: bool = setting(False, "the simulated device waits for the demo panel instead of paying")
    payment_timeout_s: float = setting(
        180.0, "a payment not made in this time is cancelled at the device", check=seconds_above_zero
    )
    host: str = setting("127.0.0.1", "address the kiosk app listens on (keep it local)", check=_local_host)
    port: int = setting(8480, "port of the kiosk app's local page and API", check=port_number)
    idle_timeout_s: float = setting(
        60.0, "a screen left alone this long ends the session and wipes it", check=seconds_above_zero
    )
    card_out_idle_s: float = setting(
        30.0,
        "once the resident has taken the card back after the PIN, a screen left alone this long ends the"
        " session (nobody may be standing there)",
        check=seconds_above_zero,
    )
    idle_warning_s: float = setting(
        20.0, 'the screen asks "need more time?" this long before an idle end', check=seconds_above_zero
    )
    farewell_s: float = setting(
        10.0,
        "the last screen (what happened, in the resident's language) clears itself after this long",
        check=seconds_above_zero,
    )
    demo: bool = setting(False, "demo controls: card and payment-device panels in the local API")
    demo_card: Path = setting(
        Path(""), "demo: the virtual card file the demo panel inserts into the vpcd reader"
    )
    demo_vpcd_port: int = setting(35963, "demo: the vpcd port of the reader (35963: Virtual PCD 00 00)")


def data_folder(settings: KioskSettings) -> Path:
    """The terminal's own folder (``data_dir``, else beside its credentials: one per kiosk identity)."""
    if str(settings.data_dir) not in ("", "."):
        return settings.data_dir
    return settings.credentials.with_name(f"{settings.credentials.stem}-data")


KIOSK_SETTINGS = SettingsLoader(KioskSettings, env_prefix="KONBINI_KIOSK_")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """A ``serve`` flag for each setting."""
    KIOSK_SETTINGS.add_arguments(parser)


def load(args: argparse.Namespace | None = None, env: dict[str, str] | None = None) -> KioskSettings:
    """Defaults, then ``KONBINI_KIOSK_*`` variables, then flags; a bad value raises
    :class:`wire.settings.SettingsError` naming the setting."""
    return KIOSK_SETTINGS.from_arguments(args or argparse.Namespace(), env)
