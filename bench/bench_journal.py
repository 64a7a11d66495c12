"""What the kiosk's journal costs a session: the eight durable writes of one session (the payment for an
order, paid, issued, printing, the printer's job, printed, reported, settled), each committed with
``synchronous=FULL`` (an fsync of the WAL) before the kiosk acts on it.

    .venv/bin/python bench/bench_journal.py [-n 200] [--folder DIR]

Prints the median and p99 of a whole session's journal writes, in ms, on the folder's disk (default: a
temporary folder under var/, the disk a kiosk's data folder would be on here).

Measured on this 2-core machine (7 Dec 2026, ext4 on a virtio disk, 200 sessions): median 0.9-1.2 ms, p99
1.9-2.9 ms a session, against the 2-3 s a session takes at the terminal (bench_kiosk_app.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import figures

from kiosk.journal import Journal


def one_session(journal: Journal, n: int) -> float:
    started = time.perf_counter()
    session, order, serial = f"s{n}", f"q{n}", f"20261207-{n:06d}"
    journal.paying(session, order, 200)
    journal.paid(order, f"SIM-{n:06d}")
    journal.issued(order, [(serial, 200)])
    journal.printing(serial)
    journal.print_job(serial, str(n))
    journal.printed(serial, True)
    journal.reported(serial)
    journal.settled(session)
    return (time.perf_counter() - started) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("-n", type=int, default=200, help="sessions")
    parser.add_argument(
        "--folder", type=Path, default=None, help="where the journal is (default: under var/)"
    )
    args = parser.parse_args()
    base = args.folder or Path("var")
    base.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-journal-", dir=base) as tmp:
        journal = Journal(Path(tmp) / "journal.sqlite3")
        times = sorted(one_session(journal, n) for n in range(args.n))
        journal.close()
    median, p99 = statistics.median(times), times[min(len(times) - 1, int(0.99 * len(times)))]
    print(
        f"journal per kiosk session (8 durable writes), {args.n} sessions: median {median:.1f} ms, p99 {p99:.1f} ms"
    )
    figures.record("kiosk journal per session", round(median, 1), "ms", 50, detail=f"p99 {p99:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
