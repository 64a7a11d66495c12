"""The 住民票 items a kiosk offers follow the household: 本籍・筆頭者 only where a Japanese national lives,
the residence card's number only where a foreign resident lives, 個人番号 only where the city allows it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from issuance_server.issuing.eligibility import Facts, Policy
from issuance_server.kiosks.menu import options_offered


def facts(*kinds: str) -> Facts:
    household: list[dict[str, Any]] = [{"kind": kind} for kind in kinds]
    return Facts(
        now=datetime(2026, 12, 7, 10), holder=household[0] if household else None, household=household
    )


@pytest.mark.parametrize(
    ("kinds", "offered"),
    [
        (("foreign",), ["householder", "zairyu_card_no"]),
        (("japanese", "japanese"), ["householder", "honseki"]),
        (("japanese", "foreign"), ["householder", "honseki", "zairyu_card_no"]),
    ],
    ids=["foreign_household", "japanese_household", "mixed_household"],
)
def test_the_juminhyo_items_offered_follow_the_household(kinds: tuple[str, ...], offered: list[str]) -> None:
    assert options_offered(facts(*kinds), Policy(allow_kojin_bango=False, calendar=None)) == offered


def test_kojin_bango_is_offered_only_where_the_city_allows_it() -> None:
    allowed = options_offered(facts("foreign"), Policy(allow_kojin_bango=True, calendar=None))
    assert allowed == ["householder", "kojin_bango", "zairyu_card_no"]


def test_the_holders_own_certificate_offers_only_what_the_holder_has() -> None:
    mixed = Facts(
        now=datetime(2026, 12, 7, 10),
        holder={"kind": "foreign"},
        household=[{"kind": "foreign"}, {"kind": "japanese"}],
    )
    policy = Policy(allow_kojin_bango=False, calendar=None)
    assert options_offered(mixed, policy) == ["householder", "honseki", "zairyu_card_no"]
    alone = Facts(now=mixed.now, holder=mixed.holder, household=[{"kind": "foreign"}])
    assert options_offered(alone, policy) == ["householder", "zairyu_card_no"]
