"""The kiosk session's transition table: every step is reached from the first, and one the table does not
hold is refused in its one place."""

from __future__ import annotations

import pytest

from kiosk.session_steps import TRANSITIONS, Event, IllegalTransition, Step, next_step


def test_every_step_is_reached_from_the_first() -> None:
    reached, frontier = {Step.LANGUAGE}, [Step.LANGUAGE]
    while frontier:
        step = frontier.pop()
        for (source, _), target in TRANSITIONS.items():
            if source is step and target not in reached:
                reached.add(target)
                frontier.append(target)
    assert reached == set(Step)


def test_a_transition_the_table_does_not_hold_is_refused() -> None:
    assert next_step(Step.CONFIRM, Event.PAY) is Step.PAYMENT
    with pytest.raises(IllegalTransition, match="menu"):
        next_step(Step.MENU, Event.PAY)
