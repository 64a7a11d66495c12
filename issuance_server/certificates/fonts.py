"""Fonts: registered once per process, chosen per character, never a silent replacement.

Ordinary text uses IPAex Mincho; a character IPAex lacks (𠮷 U+20BB7, most 外字) falls back to IPAmj Mincho,
which covers the MJ character set. A template may also ask for IPAmj first (the ``name`` chain) so that
names print with their MJ glyph shapes. A character that no font of the chain has raises
:class:`MissingGlyphError` naming its code point: reportlab itself would print the .notdef box.

Fonts are registered with ``asciiReadable`` off: reportlab would otherwise put the 96 ASCII glyphs into
every subset of every font, which made each certificate half again as large and cost ~2 ms to subset and
compress. (The text layer does not depend on it: the ToUnicode map does.)
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Final

from reportlab.pdfbase import pdfmetrics

from issuance_server.certificates.unicode_ttfont import FullUnicodeTTFont

IPAEX_MINCHO: Final = "KB-IPAexMincho"
IPAEX_GOTHIC: Final = "KB-IPAexGothic"
IPAMJ_MINCHO: Final = "KB-IPAmjMincho"

# reportlab name -> candidate files (Debian packages fonts-ipaexfont-mincho/-gothic, fonts-ipamj-mincho).
_FONT_FILES: Final[dict[str, tuple[str, ...]]] = {
    IPAEX_MINCHO: (
        "/usr/share/fonts/opentype/ipaexfont-mincho/ipaexm.ttf",
        "/usr/share/fonts/truetype/ipaexfont-mincho/ipaexm.ttf",
        "/usr/share/fonts/truetype/fonts-japanese-mincho.ttf",
    ),
    IPAEX_GOTHIC: (
        "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf",
        "/usr/share/fonts/truetype/ipaexfont-gothic/ipaexg.ttf",
        "/usr/share/fonts/truetype/fonts-japanese-gothic.ttf",
    ),
    IPAMJ_MINCHO: ("/usr/share/fonts/truetype/ipamj/ipamjm.ttf",),
}
_FILE_NAMES: Final = {IPAEX_MINCHO: "ipaexm.ttf", IPAEX_GOTHIC: "ipaexg.ttf", IPAMJ_MINCHO: "ipamjm.ttf"}

# Font chains by role, first font first. Templates name a role.
CHAINS: Final[dict[str, tuple[str, ...]]] = {
    "text": (IPAEX_MINCHO, IPAMJ_MINCHO),
    "name": (IPAMJ_MINCHO, IPAEX_MINCHO),
    "gothic": (IPAEX_GOTHIC, IPAEX_MINCHO, IPAMJ_MINCHO),
}

_lock = threading.Lock()
_fonts: dict[str, FullUnicodeTTFont] = {}
_choice_cache: dict[tuple[str, ...], dict[str, str | None]] = {}


class FontNotFoundError(RuntimeError):
    """A font file the certificates need is not installed."""


class MissingGlyphError(ValueError):
    """Some characters have no glyph in any font of the chain; nothing is printed in their place."""

    def __init__(self, characters: Sequence[str]) -> None:
        self.characters = list(characters)
        listed = ", ".join(f"U+{ord(ch):04X} {ch!r}" for ch in self.characters)
        super().__init__(f"no font has a glyph for: {listed}")


def font_file(name: str) -> Path:
    """The file for a font; ``KONBINI_FONT_DIR`` (if set) is searched first."""
    candidates = list(_FONT_FILES[name])
    if font_dir := os.environ.get("KONBINI_FONT_DIR"):
        candidates.insert(0, str(Path(font_dir) / _FILE_NAMES[name]))
    for candidate in candidates:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontNotFoundError(
        f"font {name} not found (tried {', '.join(candidates)}); install Debian fonts-ipaexfont and "
        "fonts-ipamj-mincho, or set KONBINI_FONT_DIR"
    )


PRELOADED: Final = (IPAEX_MINCHO, IPAMJ_MINCHO)  # what every certificate uses


def _load(name: str) -> FullUnicodeTTFont:
    with _lock:
        if name not in _fonts:
            font = FullUnicodeTTFont(name, str(font_file(name)), ascii_readable=False)
            pdfmetrics.registerFont(font)
            _fonts[name] = font
        return _fonts[name]


def register_fonts() -> None:
    """Load and register the Mincho fonts once per process (~0.2 s, IPAmj is 46 MB); call it at start-up
    to keep that off the first certificate. Other fonts load when a chain first needs them."""
    for name in PRELOADED:
        if name not in _fonts:
            _load(name)


def font(name: str) -> FullUnicodeTTFont:
    """The registered font object (loaded on first use)."""
    loaded = _fonts.get(name)
    return loaded if loaded is not None else _load(name)


_font = font


def has_glyph(font_name: str, ch: str) -> bool:
    return ord(ch) in _font(font_name).face.charToGlyph


def _choose(ch: str, chain: tuple[str, ...]) -> str | None:
    cache = _choice_cache.setdefault(chain, {})
    if ch not in cache:
        cache[ch] = next((name for name in chain if has_glyph(name, ch)), None)
    return cache[ch]


def runs(text: str, chain: Iterable[str]) -> list[tuple[str, str]]:
    """Split ``text`` into (font, segment) runs, each character in the first font of ``chain`` that has it.

    Raises :class:`MissingGlyphError` if any character is in none of them.
    """
    chain = tuple(chain)
    for font_name in chain:
        _font(font_name)  # registered with reportlab before anything draws with it
    out: list[tuple[str, str]] = []
    missing: list[str] = []
    current: str | None = None
    start = 0
    for i, ch in enumerate(text):
        name = _choose(ch, chain)
        if name is None:
            if ch not in missing:
                missing.append(ch)
            continue
        if name != current:
            if current is not None:
                out.append((current, text[start:i]))
            current, start = name, i
    if missing:
        raise MissingGlyphError(missing)
    if current is not None:
        out.append((current, text[start:]))
    return out


def check_coverage(text: str, chain: Iterable[str] | None = None) -> list[str]:
    """The distinct characters of ``text`` (in order) that no font of ``chain`` has (default: the text
    chain, IPAex then IPAmj Mincho); ``[]`` when all can be printed."""
    names = tuple(chain) if chain is not None else CHAINS["text"]
    missing: list[str] = []
    for ch in dict.fromkeys(text):
        if _choose(ch, names) is None:
            missing.append(ch)
    return missing


def string_width(text: str, chain: Iterable[str], size: float) -> float:
    """Width in points of ``text`` at ``size`` with per-character font fallback."""
    return sum(pdfmetrics.stringWidth(seg, name, size) for name, seg in runs(text, chain))
