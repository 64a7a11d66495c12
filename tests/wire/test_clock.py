"""The steady clock the server's session expiries count on: a step of the wall clock does not move it."""

from __future__ import annotations

import pytest

from wire import clock


def test_a_step_of_the_wall_clock_does_not_move_the_steady_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    before = clock.steady_time()
    real = clock.time.time
    monkeypatch.setattr(clock.time, "time", lambda: real() + 3600)  # the wall clock set an hour ahead
    after = clock.steady_time()
    assert 0 <= after - before < 60
