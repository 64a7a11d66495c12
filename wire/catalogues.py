"""gettext ``.po`` catalogues read at run time with Babel (no build step): one file per language in a
package folder (the kiosk's screens, the desk's messages and its customer display)."""

from __future__ import annotations

import string
from functools import cache
from importlib import resources
from typing import Any

from babel.messages.pofile import read_po

from wire.kiosk_api import LANGUAGES


def languages_of(package: str) -> tuple[str, ...]:
    """Languages with a catalogue in ``package``, in the order residents are offered them."""
    found = {p.name.removesuffix(".po") for p in resources.files(package).iterdir() if p.name.endswith(".po")}
    order = {language: n for n, language in enumerate(LANGUAGES)}
    return tuple(sorted(found, key=lambda language: (order.get(language, len(order)), language)))


@cache
def read_catalogue(package: str, language: str) -> dict[str, str]:
    """``msgid -> msgstr`` of ``<package>/<language>.po`` (untranslated entries left out)."""
    with resources.files(package).joinpath(f"{language}.po").open("rb") as fh:
        po = read_po(fh)
    return {str(m.id): str(m.string) for m in po if m.id and m.string}


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def fill(text: str, params: dict[str, Any] | None) -> str:
    """``text`` with its ``{placeholders}`` filled; as it is when a parameter is missing."""
    try:
        return text.format(**(params or {}))
    except (KeyError, IndexError, ValueError):
        return text
