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
