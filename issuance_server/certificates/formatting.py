"""Values as Japanese certificates print them: 和暦 dates, 男/女, yen amounts, a person's common fields."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, Final

from wire.cert_record import JST
from wire.wareki import format_wareki, format_wareki_iso

SEX_LABELS: Final = {"M": "男", "F": "女"}


def text(record: Mapping[str, Any], key: str) -> str:
    """The field as text; ``""`` for an absent or null field."""
    value = record.get(key)
    return "" if value is None else str(value)


def birth_date_text(person: Mapping[str, Any]) -> str:
    """和暦 for Japanese nationals; 西暦 for foreign residents (as their 住民票 print it)."""
    born = date.fromisoformat(str(person["birth_date"]))
    if person.get("kind") == "foreign":
        return f"{born.year}年{born.month}月{born.day}日"
    return format_wareki(born)


def sex_text(person: Mapping[str, Any]) -> str:
    sex = text(person, "sex")
    return SEX_LABELS.get(sex, sex)


def date_text(value: str | None) -> str:
    """An ISO date field in 和暦; ``""`` when absent."""
    return format_wareki_iso(value)


def moment_text(moment: datetime) -> str:
    """A moment in Japan to the minute: ``令和8年11月26日10時15分``."""
    local = moment.astimezone(JST)
    return f"{format_wareki(local.date())}{local.hour}時{local.minute:02d}分"


def yen(amount: object) -> str:
    """``1,234,000円``; ``0円`` for zero. Raises ``ValueError`` for what is not a whole number of yen."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise ValueError(f"not a yen amount: {amount!r}")
    return f"{amount:,}円"


def identity_values(person: Mapping[str, Any]) -> dict[str, str]:
    """Name, ふりがな, 通称, 旧氏, birth date, sex, address and 方書: what every kind may print of its principal
    (the reading as the registry holds it: hiragana, or katakana for most foreign residents)."""
    return {
        "name": text(person, "name"),
        "name_kana": text(person, "name_kana"),
        "name_alpha": text(person, "name_alpha"),
        "tsusho": text(person, "tsusho"),
        "kyuuji": text(person, "kyuuji"),
        "birth_date": birth_date_text(person),
        "sex": sex_text(person),
        "address": text(person, "address"),
        "katagaki": text(person, "katagaki"),
    }


def check_person(person: Mapping[str, Any], index: int = 0) -> None:
    """The fields every certificate needs; raises ``ValueError`` naming the first that is missing."""
    for key in ("name", "birth_date", "address", "kind"):
        if not person.get(key):
            raise ValueError(f"person {index} lacks {key}")
    if person["kind"] not in ("japanese", "foreign"):
        raise ValueError(f"person {index}: unknown kind")
    if person.get("status") == "removed":
        raise ValueError(f"person {index} is not a current resident (消除者 are never printed here)")
