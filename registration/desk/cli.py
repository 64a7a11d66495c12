"""``konbini-desk serve``: the city-hall desk app on the clerk's PC, bound to 127.0.0.1: the clerk's pages
(--port) and the customer display facing the resident (--customer-port, another origin), with the desk's
card reader. Open the two printed addresses in the desk's two browser windows. Stop it with Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from aiohttp import web

from devices.printing import CupsPrinter, FolderPrinter, Printer
from registration.desk.app import make_desk_app
from registration.desk.customer import PinEntry, make_customer_app
from registration.desk.server_api import ServerApi
from registration.desk.settings import DESK_SETTINGS, DeskSettings
from wire.cert_record import load_public_key
from wire.cli import CommandParser, run_command
from wire.http_json import server_ca_context
from wire.serving import LOCAL_SHUTDOWN_S, ListenError, start_site, until_stopped


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="konbini-desk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the desk's pages on this PC until stopped")
    DESK_SETTINGS.add_arguments(p)
    return parser


async def serve(settings: DeskSettings) -> int:
    """The two apps on 127.0.0.1 until stopped; 2 when the server's CA or the issuing key is missing."""
    try:
        issuing_key = load_public_key(settings.issuing_key)
    except (OSError, ValueError) as exc:
        print(
            f"konbini-desk: the city's issuing key {settings.issuing_key} cannot be read"
            f" ({getattr(exc, 'strerror', None) or exc}); copy the server's keys/issuing-ed25519.pub here"
            " or set --issuing-key",
            file=sys.stderr,
        )
        return 2
    try:
        api = ServerApi(settings.server, server_ca_context(settings.server, settings.server_ca))
    except FileNotFoundError as exc:
        print(f"konbini-desk: {exc}", file=sys.stderr)
        return 2

    def local(port: int) -> frozenset[str]:
        return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})

    entry = PinEntry()
    printer: Printer = (
        CupsPrinter(settings.printer, settings.cups_server or None)
        if settings.printer
        else FolderPrinter(settings.out)
    )
    desk = make_desk_app(
        api,
        local(settings.port),
        settings.terminal,
        issuing_key,
        settings.idle_lock,
        entry,
        settings.reader or None,
        printer=printer,
    )
    runners = [
        web.AppRunner(desk, access_log=None, shutdown_timeout=LOCAL_SHUTDOWN_S),
        web.AppRunner(
            make_customer_app(entry, local(settings.customer_port)),
            access_log=None,
            shutdown_timeout=LOCAL_SHUTDOWN_S,
        ),
    ]
    try:
        for runner, port in zip(runners, (settings.port, settings.customer_port), strict=True):
            await runner.setup()
            await start_site(runner, "127.0.0.1", port)
    except ListenError:
        for runner in runners:
            await runner.cleanup()
        raise
    print(
        f"konbini-desk ready on http://127.0.0.1:{settings.port} (customer display http://127.0.0.1:"
        f"{settings.customer_port}; server {settings.server})",
        flush=True,
    )
    try:
        await until_stopped()
    finally:
        for runner in runners:
            await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv, log_level=logging.INFO)


def _run(args: argparse.Namespace) -> int:
    return asyncio.run(serve(DESK_SETTINGS.from_arguments(args)))


if __name__ == "__main__":
    sys.exit(main())
