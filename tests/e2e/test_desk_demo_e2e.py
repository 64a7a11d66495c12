"""``konbini-demo --desk`` runs as the README says, on a stack of its own (its own vpcd card: no other
module's card may be in the reader, so it has a module of its own)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.e2e.stacks import run_demo

pytestmark = pytest.mark.e2e


def test_the_desk_demo_runs_end_to_end(tmp_path: Path) -> None:
    demo = run_demo(tmp_path, "--desk")
    assert demo.returncode == 0, demo.stdout[-2000:] + demo.stderr[-3000:]
    final = re.search(r"DESK DEMO OK staff=(\d+) registered=1 report=(\S+) certificate=(\S+)", demo.stdout)
    assert final, demo.stdout
    assert int(final[1]) >= 2  # the administrator and the clerk they created
    assert Path(final[2]).read_bytes().startswith(b"%PDF") and Path(final[3]).exists()
