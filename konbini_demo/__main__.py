"""``konbini-demo``: a resident gets a 住民票の写し at a kiosk, end to end, through real PC/SC.

Starts pcscd (if needed), registry_sim with a synthetic city, the issuance server and a virtual card;
syncs the replica; registers the demo resident's card and PIN; runs a kiosk session through pyscard;
writes the certificate under ./out/; verifies it; stops what it started but pcscd (a system service that
other programs, a test run among them, may be using).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from functools import partial
from pathlib import Path

from devices.card.pcscd import ensure_pcscd
from konbini_demo.desk_demo import run_desk_demo
from konbini_demo.kiosk_app_demo import run_kiosk_app_demo
from konbini_demo.kiosk_ui_demo import run_kiosk_for_a_person, run_kiosk_ui_demo
from konbini_demo.phone_demo import run_phone_demo
from konbini_demo.processes import ServiceError
from konbini_demo.recovery_demo import run_recovery_demo
from konbini_demo.scale_demo import run_scale_demo
from konbini_demo.stack import VPCD_READERS, Stack
from registry_sim.generator import DEMO_ATENA_NO
from wire.cli import CommandParser, run_command

DEMO_PIN = "1234"
ONE_KIND = [("juminhyo", ())]
# A quick demo: probe a dead registry again after 1 s rather than the production default.
RECOVERY_SETTINGS = {"KONBINI_BREAKER_COOLDOWN_S": "1", "KONBINI_BREAKER_STABLE_S": "5"}
ALL_KINDS = [
    ("juminhyo:self", ("--kind", "juminhyo", "--scope", "self", "--option", "householder")),
    ("juminhyo:household", ("--kind", "juminhyo", "--scope", "household", "--option", "householder")),
    (
        "juminhyo:members",
        ("--kind", "juminhyo", "--scope", "members", "--members", "1,3", "--option", "householder"),
    ),
    ("inkan", ("--kind", "inkan")),
    ("tax_income", ("--kind", "tax_income")),
    ("tax_status", ("--kind", "tax_status")),
    ("tax_income_assessment", ("--kind", "tax_income_assessment")),
    ("tax_payment", ("--kind", "tax_payment")),
]


def step(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(prog="konbini-demo", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=Path("var/demo"), help="throwaway data folder (wiped first)"
    )
    parser.add_argument(
        "--out", type=Path, default=Path("out/demo"), help="folder for the certificates (default out/demo)"
    )
    parser.add_argument("--residents", type=int, default=2000, help="size of the synthetic city")
    parser.add_argument("--registry-port", type=int, default=8471, help="registry_sim's port")
    parser.add_argument("--server-port", type=int, default=8470, help="the issuance server's port")
    parser.add_argument(
        "--vpcd-port", type=int, default=35963, help="the card reader's vpcd port (35963: Virtual PCD 00 00)"
    )
    parser.add_argument("--reader", help="the reader's name, when it is not one of vpcd's own two")
    parser.add_argument("--all-kinds", action="store_true", help="every kind and each 住民票 scope")
    parser.add_argument(
        "--nodes", type=int, metavar="N",
        help="N server nodes on a throwaway PostgreSQL behind HAProxy; nodes are killed under load (no card reader)",
    )  # fmt: skip
    parser.add_argument(
        "--recovery", action="store_true", help="the registry dies and returns while kiosks issue"
    )
    parser.add_argument(
        "--kiosk-app",
        action="store_true",
        help="a resident through the kiosk app, CUPS and the payment device",
    )
    parser.add_argument(
        "--kiosk",
        action="store_true",
        help="the kiosk's touchscreen for you: prints its URL, runs until Ctrl-C",
    )
    parser.add_argument("--kiosk-port", type=int, default=8480, help="--kiosk: the kiosk app's port")
    parser.add_argument(
        "--kiosk-ui", action="store_true", help="headless Chromium drives the touchscreen for one resident"
    )
    parser.add_argument(
        "--languages", default="ja", help="--kiosk-ui: languages to run through, e.g. ja,en,ne"
    )
    parser.add_argument("--shots", type=Path, help="--kiosk-ui: folder for the screenshots")
    parser.add_argument(
        "--phone", action="store_true",
        help="headless Chromium: the resident links an Android and an iPhone phone at the kiosk, then prints with each",
    )  # fmt: skip
    parser.add_argument(
        "--desk", action="store_true",
        help="headless Chromium drives the city-hall desk: a new clerk, TOTP, a card and PIN, a kiosk, a review",
    )  # fmt: skip
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    return run_command(parser, partial(run_demo, parser), argv, private=False)


def run_demo(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.reader is None and args.vpcd_port not in VPCD_READERS:
        parser.error(f"--reader: name the reader of vpcd port {args.vpcd_port} (vpcd's own: 35963, 35964)")
    started = time.monotonic()
    if args.nodes is not None:
        if not 2 <= args.nodes <= 5:
            parser.error("--nodes: 2 to 5 nodes")
        stack_root = args.root
        if stack_root.exists():
            shutil.rmtree(stack_root)
        line = run_scale_demo(stack_root, args.nodes, args.residents)
        step(f"done in {time.monotonic() - started:.1f} s")
        print(line, flush=True)
        if not line.startswith("SCALE DEMO OK"):
            sys.exit(1)
        return
    stack = Stack(
        args.root,
        residents=args.residents,
        registry_port=args.registry_port,
        server_port=args.server_port,
        vpcd_port=args.vpcd_port,
        server_settings=RECOVERY_SETTINGS if args.recovery else None,
        reader=args.reader,
    )
    final_line = ""
    stack.wipe()
    try:
        step("pcscd with the vpcd virtual readers")
        ensure_pcscd()  # left running at the end, like a system service: a test run may be using it
        step(
            f"registry_sim with a synthetic city of {args.residents} residents, server, replica sync, staff, kiosk"
        )
        stack.start()
        step("personalising the demo resident's card (virtual JPKI card, PIN registered at the desk)")
        card = stack.personalise_card("demo-resident", DEMO_PIN)
        if not args.desk:  # the desk demo registers it through the desk's pages
            stack.insert_card(card)
            stack.register(DEMO_ATENA_NO, DEMO_PIN)
        lines = []
        if args.recovery:
            final_line = run_recovery_demo(stack, DEMO_PIN, args.out)
        if args.kiosk_app:
            final_line = run_kiosk_app_demo(stack, DEMO_PIN, args.out)
        if args.kiosk_ui:
            final_line = run_kiosk_ui_demo(
                stack, card, DEMO_PIN, args.out, args.shots, args.languages.split(",")
            )
        if args.kiosk:
            run_kiosk_for_a_person(stack, card, args.out, args.kiosk_port)
        if args.desk:
            final_line = run_desk_demo(stack, card, DEMO_PIN, args.out / "desk")
        if args.phone:
            final_line = run_phone_demo(stack, card, DEMO_PIN, args.out)
        special = args.recovery or args.kiosk_app or args.kiosk_ui or args.kiosk or args.desk or args.phone
        for label, extra in [] if special else ALL_KINDS if args.all_kinds else ONE_KIND:
            step(f"kiosk session through pyscard: {label}")
            serial, path = kiosk_certificate(stack, args.out, *extra)
            lines.append((label, path, serial))
    except ServiceError as exc:
        print(f"DEMO FAILED: {exc}", flush=True)
        sys.exit(1)
    finally:
        stack.stop()
    step(f"done in {time.monotonic() - started:.1f} s")
    if final_line:
        print(final_line, flush=True)
    for label, path, serial in lines:
        kind = f"kind={label} " if args.all_kinds else ""
        print(f"DEMO OK {kind}certificate={path} serial={serial} verify=VALID", flush=True)
    if lines:
        keys = stack.server_dir / "keys"
        files = " ".join(str(path) for _, path, _ in lines)
        print(
            f"check it yourself: .venv/bin/konbini-verify {files} --key {keys / 'issuing-ed25519.pub'}"
            f" --trust {keys / 'city-issuing.crt'}",
            flush=True,
        )


def kiosk_certificate(stack: Stack, out: Path, *extra: str) -> tuple[str, Path]:
    """One kiosk session for one certificate, then its verification (QR signature and serial status)."""
    result = stack.kiosk_session(DEMO_PIN, out, *extra)
    if result.returncode != 0:
        raise ServiceError(f"kiosk session failed: {result.stderr.strip()}")
    serial, path = stack.printed(result)[0]
    verdict = stack.verify(path)
    if verdict.returncode != 0:
        raise ServiceError(
            f"verification of {path} failed: {verdict.stdout.strip()} {verdict.stderr.strip()}"
        )
    return serial, path


if __name__ == "__main__":
    sys.exit(main())
