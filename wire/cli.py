"""What every konbini command shares: its ``--help`` (each option's help followed by its default) and what
its ``main`` does around its work (:func:`run_command`)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from wire.files import private_files
from wire.settings import SettingsError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
INTERRUPTED = 130  # the shell's status of a command stopped by Ctrl-C


class StartError(Exception):
    """What keeps a command from starting (a port it cannot listen on, ...): one line, exit status 1."""


@contextlib.contextmanager
def exit_on_bad_setting(prog: str) -> Iterator[None]:
    """A bad setting (:class:`SettingsError`) ends the command with one line naming it and exit status 2
    (where a command reads its settings deep in its work)."""
    try:
        yield
    except SettingsError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def run_command(
    parser: argparse.ArgumentParser,
    work: Callable[[argparse.Namespace], int | None],
    argv: Sequence[str] | None = None,
    *,
    private: bool = True,
    log_level: int | Callable[[argparse.Namespace], int] | None = None,
    log_format: str = LOG_FORMAT,
) -> int:
    """A command's ``main``: files private to its user (unless ``private`` is false), its arguments (a bad
    one: usage and exit status 2), logging to stderr at ``log_level`` (a level, one read from the arguments,
    or None: no set-up), then ``work``, whose result is the exit status. A bad setting ends it with one line
    and status 2, a :class:`StartError` with one line and status 1, Ctrl-C quietly with status 130."""
    if private:
        private_files()
    args = parser.parse_args(argv)
    if log_level is not None:
        level = log_level(args) if callable(log_level) else log_level
        logging.basicConfig(level=level, format=log_format, stream=sys.stderr)
    try:
        return work(args) or 0
    except SettingsError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 2
    except StartError as exc:
        print(f"{parser.prog}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return INTERRUPTED


class DefaultsShown(argparse.HelpFormatter):
    """Adds ``(default: ...)`` to an option's help when it has a default worth saying."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        shown = action.default not in (None, "", False, [], argparse.SUPPRESS)
        if shown and action.option_strings and "%(default)" not in text and "default" not in text:
            text += " (default: %(default)s)"
        return text


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` with :class:`DefaultsShown`; its sub-commands inherit it. A module
    docstring used as the description loses its reST code marks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", DefaultsShown)
        if kwargs.get("description"):
            kwargs["description"] = kwargs["description"].replace("``", "")
        super().__init__(*args, **kwargs)


def http_url(text: str) -> str:
    """An argparse ``type`` for a server address: ``http(s)://host[:port]`` with a port in range (a default
    from the environment is checked the same way, so a bad variable is an argument error, not a crash)."""
    import urllib.parse

    try:
        parts = urllib.parse.urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a server address ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} is not a server address: write https://HOST[:PORT]")
    if port == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the port must be 1-65535")
    return text
