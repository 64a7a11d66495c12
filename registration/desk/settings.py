"""The desk app's settings, each declared once with its default, help text and check (:mod:`wire.settings`);
read from environment variables (``KONBINI_DESK_<NAME>``; the server, its CA and the terminal's name from
the variables the other commands read too) and overridden by ``konbini-desk serve`` flags of the same name."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path

from wire.cli import http_url
from wire.settings import SettingsLoader, port_number, seconds_above_zero, setting


def _server_address(url: str) -> str | None:
    try:
        http_url(url)
    except argparse.ArgumentTypeError as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class DeskSettings:
    server: str = setting(
        "https://127.0.0.1:8470",
        "the issuance server ($KONBINI_SERVER)",
        _server_address,
        env="KONBINI_SERVER",
    )
    server_ca: Path = setting(
        Path("var/tls/city-ca.crt"),
        "the CA that signed the server's certificate ($KONBINI_SERVER_CA)",
        env="KONBINI_SERVER_CA",
    )
    issuing_key: Path = setting(
        Path("var/keys/issuing-ed25519.pub"),
        "the city's certificate-signing public key (the server's keys/issuing-ed25519.pub): the print guard"
        " checks every counter certificate against it before printing",
    )
    port: int = setting(8490, "port of the clerk's pages (on 127.0.0.1)", port_number)
    customer_port: int = setting(8491, "port of the customer display (on 127.0.0.1)", port_number)
    reader: str = setting("", "the desk's PC/SC card reader (default: the first with a card)")
    printer: str = setting("", "the desk's CUPS queue for counter issuance (default: the --out folder)")
    cups_server: str = setting("", "CUPS server (socket or host:port; default: the system's)")
    out: Path = setting(Path("out/desk"), "folder for counter certificates when no printer is named")
    terminal: str = setting(
        os.uname().nodename,
        "this desk's name in the audit log ($KONBINI_TERMINAL, else the host name)",
        env="KONBINI_TERMINAL",
    )
    idle_lock: float = setting(300.0, "seconds without input before the screen locks", seconds_above_zero)


def _two_ports(s: DeskSettings) -> list[tuple[str, str]]:
    same = s.customer_port == s.port
    return [("customer_port", f"another port than port ({s.port})")] if same else []


DESK_SETTINGS = SettingsLoader(DeskSettings, env_prefix="KONBINI_DESK_", cross_checks=_two_ports)
