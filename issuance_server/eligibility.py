"""The one place that decides what a resident may be issued at a kiosk, with reasons they can act on."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any


@dataclass(frozen=True)
class Refusal:
    code: str
    message_ja: str
    message_en: str

    def as_json(self) -> dict[str, str]:
        return {"code": self.code, "message_ja": self.message_ja, "message_en": self.message_en}


ASK_CITY_HALL_JA = "市役所の窓口でお手続きください。"
ASK_CITY_HALL_EN = "Please ask at the city hall counter."

REFUSALS = {
    "not_in_replica": Refusal(
        "not_in_replica",
        "住民記録が見つかりません。" + ASK_CITY_HALL_JA,
        "No resident record found. " + ASK_CITY_HALL_EN,
    ),
    "removed": Refusal(
        "removed",
        "住民登録がありません（消除）。" + ASK_CITY_HALL_JA,
        "You are no longer registered. " + ASK_CITY_HALL_EN,
    ),
    "under_15": Refusal(
        "under_15",
        "15歳未満の方はコンビニ交付を利用できません。",
        "Residents under 15 cannot use kiosk issuance.",
    ),
    "moveout_planned": Refusal(
        "moveout_planned",
        "転出の届出があるため発行できません。" + ASK_CITY_HALL_JA,
        "A move-out has been filed, so kiosks cannot issue this. " + ASK_CITY_HALL_EN,
    ),
    "in_transition": Refusal(
        "in_transition",
        "住民記録の異動手続中のため発行できません。" + ASK_CITY_HALL_JA,
        "Your record is being updated. " + ASK_CITY_HALL_EN,
    ),
    "support_measure": Refusal(
        "support_measure",
        "この証明書はコンビニでは発行できません。" + ASK_CITY_HALL_JA,
        "This certificate cannot be issued at a kiosk. " + ASK_CITY_HALL_EN,
    ),
    "unprintable_character": Refusal(
        "unprintable_character",
        "お名前または住所に、この端末で印字できない文字があります。" + ASK_CITY_HALL_JA,
        "Your name or address has a character kiosks cannot print. " + ASK_CITY_HALL_EN,
    ),
}

PRINTED_TEXT_FIELDS = ("name", "name_kana", "name_alpha", "tsusho", "address", "katagaki", "householder_name")


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def juminhyo_refusal(
    person: Mapping[str, Any] | None, today: date, missing_glyphs: Callable[[str], list[str]] | None = None
) -> Refusal | None:
    """Why the card holder may not have their own 住民票の写し at a kiosk today, or None.

    ``missing_glyphs`` tells which characters of a text no certificate font has: a certificate is never
    printed with a character dropped or replaced."""
    if person is None:
        return REFUSALS["not_in_replica"]
    if person["status"] != "resident":
        return REFUSALS["removed"]
    if person["support_measure"]:
        return REFUSALS["support_measure"]
    if person["in_transition"]:
        return REFUSALS["in_transition"]
    if person["moveout_planned_date"]:
        return REFUSALS["moveout_planned"]
    if age_on(date.fromisoformat(person["birth_date"]), today) < 15:
        return REFUSALS["under_15"]
    if missing_glyphs is not None:
        text = "".join(str(person[f]) for f in PRINTED_TEXT_FIELDS if person.get(f))
        if missing_glyphs(text):
            return REFUSALS["unprintable_character"]
    return None
