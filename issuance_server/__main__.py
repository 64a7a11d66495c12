"""``konbini-server``: run the issuance server."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from issuance_server.app import make_app
from issuance_server.cluster.keys import check_node_keys
from issuance_server.connection_gate import ConnectionGate, GateLimits
from issuance_server.http_server import RouteAccessLogger, serve
from issuance_server.process_memory import limit_arenas
from issuance_server.server_tls import ensure_server_tls, registry_ssl
from issuance_server.settings import describe, load_settings
from issuance_server.storage.engines import check_postgres
from wire.cli import CommandParser, run_command


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="konbini-server", description="Run the konbini issuance server.")
    parser.add_argument("--config", type=Path, help="TOML settings file (default: $KONBINI_CONFIG)")
    parser.add_argument("--data-dir", type=Path, help="data folder (default: ./var)")
    parser.add_argument("--host", help="address to listen on (default: the host setting, 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port to listen on (default: the port setting, 8470)")
    parser.add_argument("--help-settings", action="store_true", help="list every setting and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    limit_arenas()  # before any thread starts
    return run_command(build_parser(), _run, argv, log_level=logging.INFO)


def _run(args: argparse.Namespace) -> None:
    if args.help_settings:
        _print_settings()
        return
    settings = load_settings(args.config, data_dir=args.data_dir, host=args.host, port=args.port)
    if settings.database_url:
        check_postgres(settings)  # reachable and at this code's schema, or one line and exit status 2
    try:
        tls = None if settings.plain_http else ensure_server_tls(settings)  # first start: CAs, certificate
        if settings.registry_link:
            registry_ssl(settings)  # its files must be there before the link starts
    except (ValueError, OSError) as exc:
        raise SystemExit(f"konbini-server: {exc}") from None
    if settings.database_url:
        check_node_keys(settings)  # the cluster's keys, or one line and exit status 2
    serve(
        make_app(settings),
        settings.host,
        settings.port,
        tls.context() if tls is not None else None,
        settings.header_timeout_s,
        lambda: print(f"konbini-server listening on {settings.server_url}", flush=True),
        ConnectionGate(
            GateLimits(
                settings.max_connections,
                None if settings.plain_http else settings.max_connections_per_source,
                settings.tls_handshake_timeout_s,
            )
        ),
        access_log_class=RouteAccessLogger,
    )


def _print_settings() -> None:
    rows = [
        (name, f"KONBINI_{name.upper()}", f"default {default!s}", text) for name, default, text in describe()
    ]
    widths = [min(max(len(row[i]) for row in rows), 40) for i in range(3)]
    for row in rows:  # columns as wide as their longest entry (a long default, a fee table, overflows)
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[3])


if __name__ == "__main__":
    sys.exit(main())
