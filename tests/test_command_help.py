"""Every option of every command says what it does, and the help shows its default."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator

import pytest

from devices.card.cli import _parser as card
from issuance_server.__main__ import build_parser as server
from issuance_server.certificates.verify_cli import _parser as verify
from kiosk.__main__ import build_parser as kiosk
from konbini_demo.__main__ import build_parser as demo
from recovery.cli import build_parser as ops
from registration.cli import build_parser as clerk
from registration.desk.cli import build_parser as desk
from registry_sim.__main__ import build_parser as registry

COMMANDS: dict[str, Callable[[], argparse.ArgumentParser]] = {
    "konbini-server": server, "konbini-verify": verify, "konbini-kiosk": kiosk, "konbini-card": card,
    "konbini-demo": demo, "konbini-ops": ops, "konbini-clerk": clerk, "konbini-registry": registry, "konbini-desk": desk,
}  # fmt: skip


def parsers(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from parsers(sub, f"{name} {sub_name}")


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_option_has_help_and_shows_its_default(command: str) -> None:
    undocumented, no_default = [], []
    for name, parser in parsers(COMMANDS[command](), command):
        assert "``" not in (parser.description or ""), f"{name}: reST markup in the description"
        shown = parser.format_help()
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            label = f"{name} {'/'.join(action.option_strings) or action.dest}"
            if not action.help:
                undocumented.append(label)
            elif (
                action.option_strings
                and action.default not in (None, "", False, argparse.SUPPRESS)
                and f"default: {action.default}" not in " ".join(shown.split())
                and "default" not in action.help
            ):
                no_default.append(label)
    assert undocumented == [] and no_default == []


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("konbini-clerk", ["--server", "abc", "search"]),
        ("konbini-clerk", ["--server", "https://x:99999", "search"]),
        ("konbini-ops", ["--server", "ftp://x", "status"]),
        ("konbini-verify", ["--server", "https://x:0", "QR"]),
        ("konbini-kiosk", ["session", "--server", "localhost:1"]),  # parsed only: no scheme
        ("konbini-registry", ["changes", "--rate", "1", "--url", "https://:1"]),  # no host
    ],
)
def test_a_bad_server_address_is_an_argument_error(
    command: str, argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as stopped:
        COMMANDS[command]().parse_args(argv)
    assert stopped.value.code == 2
    said = capsys.readouterr().err
    assert "server address" in said or "the port must be 1-65535" in said, said


def test_a_bad_server_address_from_the_environment_is_an_argument_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("KONBINI_SERVER", "https://x:99999")
    with pytest.raises(SystemExit) as stopped:
        clerk().parse_args(["search"])
    assert stopped.value.code == 2 and "argument --server" in capsys.readouterr().err
