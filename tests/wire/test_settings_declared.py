"""The one settings mechanism: each setting declared once; environment, then the command line; one line
naming a bad one and where its value came from."""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import Any

import pytest

from wire.settings import SettingsError, SettingsLoader, port_number, setting


@dataclass(frozen=True)
class Example:
    port: int = setting(8000, "a port", port_number)
    server: str = setting("https://a", "the server", env="EXAMPLE_SERVER")
    verbose: bool = setting(False, "say more")


def _same_port(s: Example) -> list[tuple[str, str]]:
    return [("port", "not 8999")] if s.port == 8999 else []


LOADER = SettingsLoader(Example, env_prefix="EX_", cross_checks=_same_port)


def test_defaults_then_environment_then_command_line() -> None:
    assert LOADER.load(env={}) == Example()
    env = {"EX_PORT": "9000", "EXAMPLE_SERVER": "https://b", "EX_VERBOSE": "yes"}
    assert LOADER.load(env=env, port=9100) == Example(9100, "https://b", True)


@pytest.mark.parametrize(
    ("env", "given", "says"),
    [
        (
            {"EX_PORT": "x"},
            {},
            "port = 'x' (from environment variable EX_PORT): expected int (invalid literal for int() with base 10: 'x')",
        ),
        ({}, {"port": 0}, "port = 0 (from the command line): a port number, 1-65535"),
        ({"EX_PORT": "8999"}, {}, "port = 8999 (from environment variable EX_PORT): not 8999"),
    ],
)
def test_a_bad_setting_is_one_line_naming_it(env: dict[str, str], given: dict[str, Any], says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        LOADER.load(env=env, **given)
    assert str(raised.value) == says


def test_flags_take_their_defaults_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EX_PORT", "9200")
    parser = argparse.ArgumentParser()
    LOADER.add_arguments(parser)
    assert LOADER.from_arguments(parser.parse_args([]), env={}).port == 9200
    assert LOADER.from_arguments(parser.parse_args(["--port", "9300", "--verbose"]), env={}) == Example(
        9300, "https://a", True
    )
