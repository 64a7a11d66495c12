"""The headline figures of a ``make bench`` run, each with its goal, collected as the benches print them.

A bench calls :func:`record` for each figure that has a goal; the figure is appended (one JSON line) to the
file named by ``KONBINI_BENCH_FIGURES`` (``make bench`` sets it and empties it first), or nowhere when the
bench runs alone. ``python bench/figures.py FILE`` prints them as one table, with each goal and whether the
figure meets it, so a whole run's figures come from the same run on the same machine.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Literal

Better = Literal["lower", "higher"]
ENV = "KONBINI_BENCH_FIGURES"


def record(
    figure: str, value: float, unit: str, goal: float, *, detail: str = "", better: Better = "lower"
) -> None:
    """Keep one figure of this run (``detail``: what it is measured against, e.g. the floor's value)."""
    target = os.environ.get(ENV)
    if not target:
        return
    line = {"figure": figure, "value": value, "unit": unit, "goal": goal, "better": better, "detail": detail}
    with open(target, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line, ensure_ascii=False) + "\n")


def meets(row: dict[str, object]) -> bool:
    value, goal = float(str(row["value"])), float(str(row["goal"]))
    return value <= goal if row["better"] == "lower" else value >= goal


def table(rows: list[dict[str, object]]) -> str:
    """The figures as aligned text: figure, value, goal, verdict, detail."""
    out = []
    width = max((len(str(r["figure"])) for r in rows), default=6)
    for r in rows:
        sign = "<=" if r["better"] == "lower" else ">="
        value = f"{float(str(r['value'])):g} {r['unit']}"
        goal = f"{sign} {float(str(r['goal'])):g} {r['unit']}"
        verdict = "meets" if meets(r) else "MISSES"
        out.append(f"{r['figure']!s:<{width}}  {value:>14}  goal {goal:<14}  {verdict:<6}  {r['detail']}")
    return "\n".join(out)


def main() -> int:
    path = Path(sys.argv[1] if len(sys.argv) > 1 else os.environ.get(ENV, ""))
    if not path.is_file():
        print(f"no figures recorded at {path} (run the benches with {ENV} set, e.g. make bench)")
        return 1
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(
        f"figures of this run ({len(rows)}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores):"
    )
    print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
