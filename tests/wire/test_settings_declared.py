"""The one settings mechanism: each setting declared once; environment, then the command line; one line
naming a bad one and where its value came from."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pytest

from wire.settings import SettingsError, SettingsLoader, above_zero, setting


@dataclass(frozen=True)
class Example:
    copies: int = setting(1, "copies a resident may ask for", above_zero)
    server: str = setting("https://a", "the server", env="EXAMPLE_SERVER")
    verbose: bool = setting(False, "say more")


def _not_thirteen(s: Example) -> list[tuple[str, str]]:
    return [("copies", "not 13")] if s.copies == 13 else []


LOADER = SettingsLoader(Example, env_prefix="EX_", cross_checks=_not_thirteen)


def test_defaults_then_environment_then_command_line() -> None:
    assert LOADER.load(env={}) == Example()
    env = {"EX_COPIES": "2", "EXAMPLE_SERVER": "https://b", "EX_VERBOSE": "yes"}
    assert LOADER.load(env=env, copies=3) == Example(3, "https://b", True)


@pytest.mark.parametrize(
    ("env", "given", "says"),
    [
        (
            {"EX_COPIES": "x"},
            {},
            "copies = 'x' (from environment variable EX_COPIES): expected int (invalid literal for int() with base 10: 'x')",
        ),
        ({}, {"copies": 0}, "copies = 0 (from the command line): a number above 0"),
        ({"EX_COPIES": "13"}, {}, "copies = 13 (from environment variable EX_COPIES): not 13"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(env: dict[str, str], given: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        LOADER.load(env=env, **given)
    assert str(raised.value) == says


def test_flags_take_their_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EX_COPIES", "4")
    parser = argparse.ArgumentParser()
    LOADER.add_arguments(parser)
    assert LOADER.from_arguments(parser.parse_args([]), env={}).copies == 4
    assert LOADER.from_arguments(parser.parse_args(["--copies", "5", "--verbose"]), env={}) == Example(
        5, "https://a", True
    )
