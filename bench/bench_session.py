"""Server CPU per complete kiosk session (open, authenticate, menu, issue, fetch PDF, print report, end).

Runs registry_sim and the server as real processes, drives N sessions over HTTP with a software card
(the card's own cost is in bench_card.py), and reads the server's CPU time from /proc.
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from kiosk.card_ca import issue_card
from kiosk.card_state import load_state
from kiosk.session_client import KioskApi, KioskCredentials
from konbini_demo.stack import STAFF_ID, STAFF_PASSWORD, Stack
from registry_sim.generator import DEMO_ATENA_NO
from wire.http_json import JsonClient
from wire.kiosk_api import auth_message

PIN = "1357"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_session(api: KioskApi, cert: bytes, key: rsa.RSAPrivateKey) -> None:
    s = api.open_session()
    sid = s["session_id"]
    sig = key.sign(auth_message(api.kiosk_id, sid, s["nonce"]), padding.PKCS1v15(), hashes.SHA256())
    api.authenticate(sid, s["nonce"], cert, sig, PIN)
    api.menu(sid)
    serial = api.issue(sid, "juminhyo")["certificates"][0]["serial"]
    api.fetch_pdf(sid, serial)
    api.report_print(sid, serial, True)
    api.end_session(sid)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument(
        "--profile", type=Path, help="write a py-spy profile (raw folded stacks) of the server here"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(Path(tmp), residents=1000)
        try:
            stack.start()
            card_file = Path(tmp) / "bench-card.json"
            issue_card(stack.ca_dir, card_file, PIN)
            state = load_state(card_file)
            key = serialization.load_pem_private_key(state.private_key_pem, password=None)
            assert isinstance(key, rsa.RSAPrivateKey)
            clerk = JsonClient(stack.server_url, {})
            token = clerk.call(
                "POST", "/clerk/api/login", {"staff_id": STAFF_ID, "password": STAFF_PASSWORD}
            )["token"]
            clerk.headers["Authorization"] = f"Bearer {token}"
            clerk.call(
                "POST",
                "/clerk/api/registrations",
                {
                    "atena_no": DEMO_ATENA_NO,
                    "certificate": base64.b64encode(state.certificate_der).decode(),
                    "pin": PIN,
                },
            )
            api = KioskApi(KioskCredentials.load(stack.kiosk_credentials))
            one_session(api, state.certificate_der, key)  # warm up
            pid = stack.services["server"].proc.pid
            if args.profile:
                spy = subprocess.Popen(
                    [
                        str(Path(sys.executable).parent / "py-spy"),
                        "record",
                        "-p",
                        str(pid),
                        "-o",
                        str(args.profile),
                        "-f",
                        "raw",
                        "--nonblocking",
                    ],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
                time.sleep(1)
            cpu0, t0 = cpu_seconds(pid), time.perf_counter()
            with ThreadPoolExecutor(args.concurrency) as pool:
                list(pool.map(lambda _: one_session(api, state.certificate_der, key), range(args.n)))
            cpu, wall = cpu_seconds(pid) - cpu0, time.perf_counter() - t0
            if args.profile:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
        finally:
            stack.stop()
    print(
        f"{args.n} kiosk sessions, {args.concurrency} at a time: server CPU {cpu / args.n * 1000:.1f} ms per session,"
        f" wall {wall:.1f} s = {args.n / wall:.1f} sessions/s (client and server share this machine's 2 cores)"
    )


if __name__ == "__main__":
    main()
