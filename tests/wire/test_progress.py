"""Long work shows how far it is, with percentage and time left, also in a log (no terminal)."""

from __future__ import annotations

import pytest

from wire.progress import Progress


def test_a_log_gets_lines_with_percentage_and_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    shown = Progress("sync", "records", every_s=0)
    shown.update_to(1_000)  # the whole is not known yet: a count
    shown.update_to(250_000, total=1_000_000)  # the snapshot's header said how many
    shown.close()
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 3 and "1.00k records" in lines[0] and "%" not in lines[0]
    assert "25%" in lines[1] and "250k/1.00M" in lines[1] and "<" in lines[1]  # elapsed<left
    # where it ended (the bar's width follows the length of the rate, which varies at such speed)
    assert lines[2].split("|")[0] == lines[1].split("|")[0] and "250k/1.00M" in lines[2]
