"""What every konbini command's ``--help`` looks like: each option's help followed by its default."""

from __future__ import annotations

import argparse
from typing import Any


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
