"""``konbini-desk serve``: the city-hall desk app on the clerk's PC, bound to 127.0.0.1: the clerk's pages
(--port) and the customer display facing the resident (--customer-port, another origin), with the desk's
card reader. Open the two printed addresses in the desk's two browser windows. Stop it with Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from aiohttp import web

from devices.printing import CupsPrinter, FolderPrinter, Printer
from registration.desk.app import make_desk_app
from registration.desk.customer import PinEntry, make_customer_app
from registration.desk.server_api import ServerApi
from wire.cli import CommandParser, http_url
from wire.files import private_files
from wire.http_json import server_ca_context
from wire.serving import LOCAL_SHUTDOWN_S, ListenError, start_site, until_stopped


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="konbini-desk", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="serve the desk's pages on this PC until stopped")
    p.add_argument(
        "--server", type=http_url, default=os.environ.get("KONBINI_SERVER", "https://127.0.0.1:8470"),
        help="the issuance server ($KONBINI_SERVER)",
    )  # fmt: skip
    p.add_argument(
        "--server-ca", type=Path, default=Path(os.environ.get("KONBINI_SERVER_CA", "var/tls/city-ca.crt")),
        help="the CA that signed the server's certificate ($KONBINI_SERVER_CA)",
    )  # fmt: skip
    p.add_argument("--port", type=int, default=8490, help="port of the clerk's pages (on 127.0.0.1)")
    p.add_argument(
        "--customer-port", type=int, default=8491, help="port of the customer display (on 127.0.0.1)"
    )
    p.add_argument("--reader", help="the desk's PC/SC card reader (default: the first with a card)")
    p.add_argument("--printer", help="the desk's CUPS queue for counter issuance (default: the --out folder)")
    p.add_argument("--cups-server", help="CUPS server (socket or host:port; default: the system's)")
    p.add_argument(
        "--out",
        type=Path,
        default=Path("out/desk"),
        help="folder for counter certificates when no printer is named",
    )
    p.add_argument(
        "--terminal", default=os.environ.get("KONBINI_TERMINAL", os.uname().nodename),
        help="this desk's name in the audit log ($KONBINI_TERMINAL, else the host name)",
    )  # fmt: skip
    p.add_argument(
        "--idle-lock", type=float, default=300.0, help="seconds without input before the screen locks"
    )
    return parser


async def serve(args: argparse.Namespace) -> int:
    ports = (args.port, args.customer_port)
    if (
        not all(1 <= port <= 65535 for port in ports)
        or args.port == args.customer_port
        or args.idle_lock <= 0
    ):
        print(
            "konbini-desk: --port and --customer-port: two ports 1-65535; --idle-lock above 0",
            file=sys.stderr,
        )
        return 2
    try:
        api = ServerApi(args.server, server_ca_context(args.server, args.server_ca))
    except FileNotFoundError as exc:
        print(f"konbini-desk: {exc}", file=sys.stderr)
        return 2

    def local(port: int) -> frozenset[str]:
        return frozenset({f"http://127.0.0.1:{port}", f"http://localhost:{port}"})

    entry = PinEntry()
    printer: Printer = (
        CupsPrinter(args.printer, args.cups_server) if args.printer else FolderPrinter(args.out)
    )
    desk = make_desk_app(
        api, local(args.port), args.terminal, args.idle_lock, entry, args.reader, printer=printer
    )
    runners = [
        web.AppRunner(desk, access_log=None, shutdown_timeout=LOCAL_SHUTDOWN_S),
        web.AppRunner(
            make_customer_app(entry, local(args.customer_port)),
            access_log=None,
            shutdown_timeout=LOCAL_SHUTDOWN_S,
        ),
    ]
    try:
        for runner, port in zip(runners, (args.port, args.customer_port), strict=True):
            await runner.setup()
            await start_site(runner, "127.0.0.1", port)
    except ListenError as exc:
        print(f"konbini-desk: {exc}", file=sys.stderr)
        for runner in runners:
            await runner.cleanup()
        return 1
    print(
        f"konbini-desk ready on http://127.0.0.1:{args.port} (customer display http://127.0.0.1:"
        f"{args.customer_port}; server {args.server})",
        flush=True,
    )
    try:
        await until_stopped()
    finally:
        for runner in runners:
            await runner.cleanup()
    return 0


def main(argv: list[str] | None = None) -> None:
    private_files()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args = build_parser().parse_args(argv)
    sys.exit(asyncio.run(serve(args)))


if __name__ == "__main__":
    main()
