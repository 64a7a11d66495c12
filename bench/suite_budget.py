"""The test suite's time by area, against the budget in tests/README.md.

    .venv/bin/python bench/suite_budget.py                 # runs the suite (-n 3) and reads its durations
    .venv/bin/python bench/suite_budget.py --report FILE   # reads a saved `pytest --durations=0` output

Prints, per area, the worker-minutes its tests took (setup + call + teardown) and what that is of the run's
wall time when the workers share it evenly; the wall time of the run itself when it ran here. Not a test:
tests never assert on speed.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Area -> path prefixes (the first that matches wins; the e2e modules named before the e2e folder).
AREAS: dict[str, tuple[str, ...]] = {
    "desk and screens": (
        "tests/e2e/test_desk_e2e.py",
        "tests/e2e/test_desk_demo_e2e.py",
        "tests/e2e/test_kiosk_ui_e2e.py",
    ),
    "kiosk and card": ("tests/kiosk/", "tests/devices/", "tests/e2e/test_kiosk_app_e2e.py"),
    "recovery": (
        "tests/e2e/test_registry_link_e2e.py",
        "tests/recovery/",
        "tests/registry_sim/test_registry_kill.py",
        "tests/registry_sim/test_registry_process.py",
    ),
    "end to end": ("tests/e2e/",),
    "server": ("tests/server/",),
    "unit": ("tests/",),
}
LINE = re.compile(r"^(\d+\.\d+)s (setup|call|teardown)\s+(\S+?)::")


def area_of(path: str) -> str:
    return next(area for area, prefixes in AREAS.items() if path.startswith(prefixes))


def by_area(report: str) -> dict[str, float]:
    seconds: dict[str, float] = defaultdict(float)
    for line in report.splitlines():
        found = LINE.match(line)
        if found:
            seconds[area_of(found[3])] += float(found[1])
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--report", type=Path, help="a saved pytest output with --durations=0")
    parser.add_argument("--workers", type=int, default=3, help="xdist workers (default 3, as make test)")
    args = parser.parse_args()
    wall = None
    if args.report:
        report = args.report.read_text()
    else:
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-n", str(args.workers), "--dist", "loadfile",
             "--durations=0", "-p", "no:cacheprovider"],
            cwd=ROOT, capture_output=True, text=True, check=False,
        )  # fmt: skip
        wall = time.monotonic() - started
        report = run.stdout
        if run.returncode != 0:
            print(report[-3000:], file=sys.stderr)
            sys.exit(f"the suite failed (exit {run.returncode}): figures withheld")
    seconds = by_area(report)
    total = sum(seconds.values())
    if not total:
        sys.exit("no durations found: run pytest with --durations=0")
    print(
        f"{'area':<18} {'worker-min':>10} {'share':>6} {'wall-min at ' + str(args.workers) + ' workers':>22}"
    )
    for area in AREAS:
        s = seconds.get(area, 0.0)
        print(f"{area:<18} {s / 60:>10.1f} {s / total:>6.0%} {s / 60 / args.workers:>22.1f}")
    print(f"{'all':<18} {total / 60:>10.1f} {1:>6.0%} {total / 60 / args.workers:>22.1f}")
    if wall is not None:
        print(f"pytest wall time: {wall / 60:.1f} min ({args.workers} workers)")


if __name__ == "__main__":
    main()
