"""A name as a clerk types it at the desk, read the ways the record may hold it, and the variant characters
(異体字, 外字) a list must tell apart: the one place for both (the server searches with them, the desk marks
them).

A record holds the name in kanji (``name``, 𠮷田　髙志), in hiragana (``name_kana``, よしだ　たかし), in
alphabet for foreign residents (``name_alpha``) and perhaps a 通称 (``tsusho``). The clerk may type ヨシダ,
ﾖｼﾀﾞ, よしだ, yoshida, 吉田 or 𠮷田: kana is read as hiragana, romaji also as hiragana, and kanji is folded so
that 吉田 finds 𠮷田 (and 高 finds 髙). Spaces do not matter.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

import jaconv

# Variant characters common in names, each with the everyday character a clerk types for it. Folding is for
# finding only: the record and the certificate keep the character as registered.
VARIANTS: Final = {
    "𠮷": "吉", "髙": "高", "﨑": "崎", "嵜": "崎", "邊": "辺", "邉": "辺", "澤": "沢", "濱": "浜",
    "濵": "浜", "齋": "斎", "齊": "斉", "德": "徳", "槗": "橋", "冨": "富", "國": "国", "櫻": "桜",
    "廣": "広", "惠": "恵", "眞": "真", "實": "実", "榮": "栄", "嶋": "島", "嶌": "島", "峯": "峰",
    "舘": "館", "藏": "蔵", "瀨": "瀬", "槇": "槙",
    # the CJK compatibility ideographs (塚 U+FA10, 神 U+FA19, ...): their everyday character by NFKC
    **{chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xF900, 0xFB00)
       if len(unicodedata.normalize("NFKC", chr(c))) == 1 and unicodedata.normalize("NFKC", chr(c)) != chr(c)},
}  # fmt: skip
# Written between the parts of a name, never searched for: Anne-Marie, O'Brien, スミス・ジョン.
SEPARATORS: Final = (" ", "\u3000", "-", "'", ".", ",", "・", "･", "‐", "－")
_SEPARATORS = re.compile("[\\s" + re.escape("".join(SEPARATORS)) + "]+")
_KANA = re.compile(r"[\u3041-\u3096\u30a1-\u30fa\u30fc]+")
_LATIN = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class NameQuery:
    """What to look for: ``kana`` in ``name_kana``, ``alpha`` in ``name_alpha``, ``folded`` in the folded
    ``name`` and ``tsusho`` (each None when the typed text cannot be that form)."""

    kana: str | None = None
    alpha: str | None = None
    folded: str | None = None


def fold(text: str) -> str:
    """``text`` with its variant characters as the everyday ones, without separators, in lower case."""
    return "".join(VARIANTS.get(c, c) for c in _SEPARATORS.sub("", text)).lower()


def name_query(typed: str) -> NameQuery:
    """The forms ``typed`` is searched as (an empty query when it has nothing to search by)."""
    text = fold(_SEPARATORS.sub("", unicodedata.normalize("NFKC", typed))).lower()
    if not text:
        return NameQuery()
    if _KANA.fullmatch(text):
        return NameQuery(kana=jaconv.kata2hira(text))
    plain = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    if _LATIN.fullmatch(plain):  # José, Nguyễn: as the alphabet name holds them, without the accents
        read = jaconv.alphabet2kana(plain)
        kana = read if re.fullmatch(r"[\u3041-\u3096\u30fc]+", read) else None
        return NameQuery(kana=kana, alpha=plain, folded=text if plain != text else None)
    return NameQuery(folded=text)


def is_variant(char: str) -> bool:
    """A character a clerk must not take for its everyday look-alike: a listed variant, or one outside JIS X
    0208 (外字: not in Shift_JIS, like 𠮷 and 髙)."""
    if char in VARIANTS:
        return True
    if char.isascii() or char in SEPARATORS:
        return False
    try:
        char.encode("shift_jis")
    except UnicodeEncodeError:
        return True
    return False
