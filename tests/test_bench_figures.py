"""The figures a ``make bench`` run collects, and the table it ends with."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
import figures  # noqa: E402  (a bench script's sibling, not a package)


def test_a_figure_is_kept_only_when_a_run_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(figures.ENV, raising=False)
    figures.record("catch-up", 2.5, "s", 3.0)  # a bench run alone: nowhere, no error
    target = tmp_path / "figures.jsonl"
    monkeypatch.setenv(figures.ENV, str(target))
    figures.record("catch-up", 2.5, "s", 3.0, detail="14 µs a change")
    figures.record("peak RSS", 310, "MB", 300)
    lines = target.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    assert '"detail": "14 µs a change"' in lines[0]


def test_the_table_says_which_figures_meet_their_goal(tmp_path: Path) -> None:
    rows = [
        {"figure": "full sync", "value": 16.2, "unit": "s", "goal": 15, "better": "lower", "detail": ""},
        {
            "figure": "session / floor",
            "value": 1.2,
            "unit": "x",
            "goal": 1.2,
            "better": "lower",
            "detail": "",
        },
        {"figure": "sessions/s", "value": 9, "unit": "/s", "goal": 10, "better": "higher", "detail": ""},
    ]
    lines = figures.table(rows).splitlines()
    assert "MISSES" in lines[0] and "goal <= 15 s" in lines[0]
    assert "meets" in lines[1]  # at the goal is meeting it
    assert "MISSES" in lines[2] and "goal >= 10 /s" in lines[2]


def test_the_report_prints_a_runs_figures_or_says_there_are_none(tmp_path: Path) -> None:
    target = tmp_path / "figures.jsonl"
    script = str(ROOT / "bench" / "figures.py")
    missing = subprocess.run([sys.executable, script, str(target)], capture_output=True, text=True)
    assert missing.returncode == 1 and "no figures recorded" in missing.stdout
    target.write_text(
        '{"figure": "catch-up of 180,000 changes", "value": 2.9, "unit": "s", "goal": 3.0,'
        ' "better": "lower", "detail": ""}\n',
        encoding="utf-8",
    )
    shown = subprocess.run([sys.executable, script, str(target)], capture_output=True, text=True)
    assert shown.returncode == 0
    assert "catch-up of 180,000 changes" in shown.stdout and "meets" in shown.stdout
