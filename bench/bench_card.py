"""Card-layer costs over the real PC/SC stack (pcscd + vpcd + the virtual card), medians of N runs.

    .venv/bin/python bench/bench_card.py [-n 30] [--port 35964]

Starts pcscd if it is not running (as root) and leaves it running. Prints milliseconds per operation,
plus the card logic alone (no PC/SC) for comparison.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devices.card import profile as p
from devices.card.jpki import JpkiCard
from devices.card.pcsc import reader_has_card
from devices.card.pcscd import ensure_pcscd
from devices.card.virtual.applet import VirtualCard
from devices.card.virtual.ca import init_ca, issue_card
from devices.card.virtual.vpcd import VPCD_PORTS, start_card_thread
from wire.kiosk_api import auth_digest

PIN = "1234"


def _median_ms(n: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return statistics.median(times)


def _row(name: str, ms: float) -> None:
    print(f"{name:<44} {ms:8.2f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=30, help="runs per figure (median)")
    parser.add_argument("--port", type=int, default=35964, choices=sorted(VPCD_PORTS.values()))
    args = parser.parse_args()
    reader = next(name for name, port in VPCD_PORTS.items() if port == args.port)
    started = ensure_pcscd()
    print(f"pcscd: {'started' if started else 'already running'}; reader {reader!r}; n={args.n}")

    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        init_ca(tmp_dir / "ca")
        card_file = tmp_dir / "card.json"
        issue_card(tmp_dir / "ca", card_file, PIN)
        digest = auth_digest("kiosk-bench", "session", "nonce")

        inserted, present = [], []
        for _ in range(min(args.n, 10)):
            t0 = time.perf_counter()
            handle = start_card_thread(card_file, args.port)
            handle.wait_inserted(10)
            inserted.append((time.perf_counter() - t0) * 1000)
            with JpkiCard.connect(reader, timeout_s=10):
                present.append((time.perf_counter() - t0) * 1000)
            handle.stop()
            _wait_empty(reader)
        _row("card thread start -> vpcd polled it", statistics.median(inserted))
        _row("card thread start -> JpkiCard.connect ok", statistics.median(present))

        with start_card_thread(card_file, args.port) as handle:
            handle.wait_inserted(10)
            _row("connect (select AID) + close (reset)", _median_ms(args.n, lambda: _connect_close(reader)))
            with JpkiCard.connect(reader, timeout_s=10) as card:
                _row("read authentication certificate", _median_ms(args.n, card.read_auth_certificate))
                _row("PIN tries left (VERIFY no data)", _median_ms(args.n, card.pin_tries_left))
                _row(
                    "verify PIN (2 fsynced writes of the card file)",
                    _median_ms(args.n, lambda: card.verify_pin(PIN)),
                )
                _row("sign SHA-256 digest (RSA-2048)", _median_ms(args.n, lambda: card.sign_digest(digest)))

                def session() -> None:
                    card.read_auth_certificate()
                    card.verify_pin(PIN)
                    card.sign_digest(digest)

                _row("kiosk card steps: read cert + verify + sign", _median_ms(args.n, session))

        logic = VirtualCard.from_file(card_file)  # the card logic alone, no PC/SC
        for apdu in (
            p.select_aid(),
            p.select_ef(p.EF_AUTH_PIN),
            p.verify_pin(PIN),
            p.select_ef(p.EF_AUTH_KEY),
        ):
            logic.process(apdu)
        sign = p.compute_signature(p.sha256_digest_info(digest))
        _row("card logic alone: COMPUTE SIGNATURE", _median_ms(args.n, lambda: logic.process(sign)))


def _connect_close(reader: str) -> None:
    JpkiCard.connect(reader, timeout_s=5).close()


def _wait_empty(reader: str, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while reader_has_card(reader) and time.monotonic() < deadline:
        time.sleep(0.02)


if __name__ == "__main__":
    main()
