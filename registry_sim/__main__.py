"""``konbini-registry``: seed, import, export and serve the main-registry stand-in.

konbini-registry seed --residents 600000 --seed 1 [--fiscal-year 2026] [--db PATH]
konbini-registry import FILE.jsonl [--db PATH] [--replace]
konbini-registry export [--db PATH] [--out FILE]
konbini-registry serve [--db PATH] [--host 127.0.0.1] [--port 8471] [--tls-dir DIR] [--plain] [--generate-rate R] [--generate-seed N]
                       [--keep-changes N] [--down] [--slow-ms N] [--flap-period-s S]
                       [--garbage syntax|shape|record] [--feed-abort-after N] [--snapshot-abort-after N]
konbini-registry changes --rate R [--duration S] [--seed N] [--url https://127.0.0.1:8471] [--tls-dir DIR]
                         [--wait]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from registry_sim.faults import Faults
from registry_sim.feed import FeedReader
from registry_sim.generator import DEMO_ATENA_NO, generate_city
from registry_sim.linkage_file import LinkageFileError, checked_records, write_linkage
from registry_sim.server import serve
from registry_sim.store import Counts, StoreReader, build_store
from registry_sim.tls_files import ensure_registry_tls, link_context
from wire.cli import CommandParser, http_url, run_command
from wire.http_json import HttpError, JsonClient
from wire.progress import Progress
from wire.serving import ListenError
from wire.tls import is_loopback

DEFAULT_DB = Path("var/registry/registry.sqlite3")
DEFAULT_PORT = 8471


def default_fiscal_year(today: date | None = None) -> int:
    """The latest assessed fiscal year: this year from 1 June (assessment notices), else last year."""
    today = today or date.today()
    return today.year if (today.month, today.day) >= (6, 1) else today.year - 1


def _counts_text(counts: Counts) -> str:
    return ", ".join(f"{n} {t}" for t, n in counts.items())


def _seed(args: argparse.Namespace) -> int:
    fiscal_year = args.fiscal_year or default_fiscal_year()
    started = time.monotonic()
    shown = Progress("seed", "residents", total=args.residents)

    def progress(counts: Counts) -> None:
        shown.update_to(counts["resident"])

    source = f"seed residents={args.residents} seed={args.seed} fiscal_year={fiscal_year}"
    records = generate_city(args.residents, args.seed, fiscal_year)
    counts = build_store(args.db, records, source=source, progress=progress)
    shown.close()
    elapsed = time.monotonic() - started
    print(
        f"seeded {args.db}: {_counts_text(counts)} in {elapsed:.1f} s (demo resident {DEMO_ATENA_NO})",
        file=sys.stderr,
    )
    return 0


def _import(args: argparse.Namespace) -> int:
    store = StoreReader(args.db)
    if store.exists() and not args.replace:
        _, seq, counts = store.state()
        print(
            f"{args.db} holds a city ({_counts_text(counts)}, seq {seq}); an import replaces all of it with"
            f" {args.file}: add --replace to do that",
            file=sys.stderr,
        )
        return 2
    try:
        with open(args.file, "rb") as fh:
            counts = build_store(args.db, checked_records(fh), source=f"import {Path(args.file).name}")
    except LinkageFileError as exc:
        for line_no, message in exc.problems:
            print(f"{args.file}:{line_no}: {message}", file=sys.stderr)
        print(f"nothing was imported; {args.db} is unchanged", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"cannot read {args.file}: {exc.strerror}", file=sys.stderr)
        return 1
    print(f"imported into {args.db}: {_counts_text(counts)}", file=sys.stderr)
    return 0


def _export(args: argparse.Namespace) -> int:
    store = StoreReader(args.db)
    if not store.exists():
        print(f"no registry database at {args.db}", file=sys.stderr)
        return 1
    with store.snapshot() as snap:
        if args.out:
            with open(args.out, "wb") as out:
                counts = write_linkage(snap, out)
        else:
            counts = write_linkage(snap, sys.stdout.buffer)
            sys.stdout.buffer.flush()
    print(f"exported {_counts_text(counts)}", file=sys.stderr)
    return 0


def _serve(args: argparse.Namespace) -> int:
    if not Path(args.db).exists():
        print(f"no registry database at {args.db}: run `konbini-registry seed` first", file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    faults = Faults()
    try:
        faults.update(
            {
                "snapshot_abort_after": args.snapshot_abort_after,
                "feed_abort_after": args.feed_abort_after,
                "slow_ms": args.slow_ms,
                "down": args.down,
                "flap_period_s": args.flap_period_s,
                "garbage": args.garbage,
            }
        )
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    if args.generate_rate < 0 or args.keep_changes < 0:
        print("--generate-rate and --keep-changes must not be negative", file=sys.stderr)
        return 2
    if args.plain and not is_loopback(args.host):
        print("--plain (no TLS) is allowed only on a loopback host", file=sys.stderr)
        return 2
    tls_dir = args.tls_dir or Path(args.db).parent / "tls"
    context = None if args.plain else ensure_registry_tls(tls_dir, args.host).server_context()
    try:
        asyncio.run(
            serve(
                args.db,
                args.host,
                args.port,
                faults,
                keep_changes=args.keep_changes,
                generate_rate=args.generate_rate,
                generate_seed=args.generate_seed,
                card_crl=args.card_crl,
                phone_crl=args.phone_crl,
                ssl_context=context,
            )
        )
    except ListenError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def _changes(args: argparse.Namespace) -> int:
    base = args.url.rstrip("/")
    body: dict[str, object] = {"rate": args.rate, "duration_s": args.duration}
    if args.seed is not None:
        body["seed"] = args.seed
    try:
        context = link_context(args.tls_dir) if base.startswith("https://") else None
        client = JsonClient(base, {}, timeout_s=10, ssl_context=context)
        state = client.call("POST", "/control/generate", body)
        while args.wait and state.get("running"):
            time.sleep(0.5)
            state = client.call("GET", "/control/generate")
    except HttpError as exc:
        if exc.status == 0:
            print(f"cannot reach the registry at {base}: {exc.message}", file=sys.stderr)
        else:
            print(f"the registry refused: {exc.message}", file=sys.stderr)
        return 1
    except OSError as exc:  # its TLS files
        print(f"cannot reach the registry at {base}: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(state, ensure_ascii=False))
    return 0


def _card_identity(args: argparse.Namespace) -> int:
    """What the card issuer (J-LIS, from the registry) writes into a resident's card: the four fields
    ``konbini-card personalise --identity`` takes, as JSON."""
    body = FeedReader(args.db).record("resident", args.atena_no) if args.db.exists() else None
    if body is None:
        print(f"no resident {args.atena_no} in {args.db}", file=sys.stderr)
        return 1
    person = json.loads(body)
    held = {k: person[k] for k in ("name", "address", "birth_date", "sex")}
    text = json.dumps(held, ensure_ascii=False) + "\n"
    if args.out is None:
        sys.stdout.write(text)
    else:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(
        prog="konbini-registry",
        description="Seed, import, export and serve registry_sim, the stand-in for the main registry.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    def with_db(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--db", type=Path, default=DEFAULT_DB, help=f"registry database (default {DEFAULT_DB})"
        )
        return p

    seed = with_db(sub.add_parser("seed", help="replace the database with a generated synthetic city"))
    seed.add_argument("--residents", type=int, required=True, help="number of resident records (>= 3)")
    seed.add_argument("--seed", type=int, required=True, help="random seed: same seed, same city")
    seed.add_argument("--fiscal-year", type=int, help="latest tax year (default: the latest assessed one)")
    seed.set_defaults(func=_seed)

    imp = with_db(
        sub.add_parser("import", help="replace the database with a linkage JSONL file (all or nothing)")
    )
    imp.add_argument("file", help="JSON Lines file in the konbini-linkage/1 format")
    imp.add_argument(
        "--replace", action="store_true", help="replace the city already in --db (every record of it)"
    )
    imp.set_defaults(func=_import)

    exp = with_db(sub.add_parser("export", help="write the database as a linkage JSONL file"))
    exp.add_argument("--out", type=Path, help="output file (default: standard output)")
    exp.set_defaults(func=_export)

    srv = with_db(
        sub.add_parser("serve", help="serve health, snapshot, change feed, versions and controls over HTTP")
    )
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on")
    srv.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}; 0 picks a free one"
    )
    srv.add_argument(
        "--generate-rate", type=float, default=0, help="start the change generator at R changes per second"
    )
    srv.add_argument("--generate-seed", type=int, default=1, help="random seed of the change generator")
    srv.add_argument(
        "--keep-changes", type=int, default=0, help="keep only the latest N changes in the log (0: all)"
    )
    srv.add_argument(
        "--card-crl",
        type=Path,
        default=Path("var/card-ca/crl.der"),
        help="the card CA's CRL to publish at /crl/card-ca.crl (default var/card-ca/crl.der)",
    )
    srv.add_argument(
        "--phone-crl",
        type=Path,
        default=Path("var/phone-ca/crl.der"),
        help="the smartphone CA's CRL to publish at /crl/phone-ca.crl (default var/phone-ca/crl.der)",
    )
    srv.add_argument(
        "--tls-dir",
        type=Path,
        help="its CA, certificate and the link's client certificate, made at first start (default: tls/"
        " beside --db)",
    )
    srv.add_argument(
        "--plain", action="store_true", help="serve plain HTTP instead of HTTPS (loopback hosts only)"
    )
    srv.add_argument("--down", action="store_true", help="start answering 503 (fault injection)")
    srv.add_argument("--slow-ms", type=int, default=0, help="delay every answer by this many ms")
    srv.add_argument(
        "--flap-period-s", type=float, default=None, help="alternate up and down every S seconds"
    )
    srv.add_argument(
        "--garbage",
        choices=("syntax", "shape", "record"),
        default=None,
        help="feed, versions and snapshot answer 200 with malformed bodies",
    )
    srv.add_argument(
        "--feed-abort-after", type=int, default=None, help="drop feed answers after this many changes"
    )
    srv.add_argument(
        "--snapshot-abort-after", type=int, default=None, help="drop snapshots after this many records"
    )
    srv.set_defaults(func=_serve)

    chg = sub.add_parser(
        "changes", help="start (or stop, with --rate 0) the change generator of a running sim"
    )
    chg.add_argument("--rate", type=float, required=True, help="changes per second (0 stops)")
    chg.add_argument("--duration", type=float, default=None, help="seconds (default: until stopped)")
    chg.add_argument("--seed", type=int, default=None, help="random seed (default: a random one)")
    chg.add_argument(
        "--url",
        type=http_url,
        default=f"https://127.0.0.1:{DEFAULT_PORT}",
        help=f"the sim (default https://127.0.0.1:{DEFAULT_PORT})",
    )
    chg.add_argument(
        "--tls-dir",
        type=Path,
        default=DEFAULT_DB.parent / "tls",
        help=f"the sim's TLS folder, for its CA and the link's client certificate (default {DEFAULT_DB.parent / 'tls'})",
    )
    chg.add_argument(
        "--wait", action="store_true", help="wait until the generator stops, then print its state"
    )
    chg.set_defaults(func=_changes)

    ident = with_db(
        sub.add_parser(
            "card-identity", help="a resident's four card fields (JSON) for konbini-card personalise"
        )
    )
    ident.add_argument("atena_no", help="the resident's 宛名番号")
    ident.add_argument("--out", type=Path, help="write to this file (default: standard output)")
    ident.set_defaults(func=_card_identity)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), _run, argv)


def _run(args: argparse.Namespace) -> int:
    if args.command == "seed" and args.residents < 3:
        print("--residents must be at least 3 (the demo household)", file=sys.stderr)
        return 2
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
