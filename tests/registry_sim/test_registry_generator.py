"""The synthetic city: deterministic, in the linkage format, and shaped like a real city."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from typing import Any

import orjson
import pytest

from registry_sim.generator import (
    DEMO_ADDRESS,
    DEMO_ATENA_NO,
    DEMO_HOUSEHOLD_NO,
    DEMO_KATAGAKI,
    DEMO_NAME,
    DEMO_NAME_KANA,
    as_of_date,
    generate_city,
)
from registry_sim.places import TOWNS
from registry_sim.taxes import unpaid_amount
from tests.registry_sim.conftest import CITY_RESIDENTS, FISCAL_YEAR
from wire.linkage import FIELDS_BY_TYPE, check_record, is_valid_kojin_bango, record_problem

AS_OF = as_of_date(FISCAL_YEAR)
GAIJI = set("髙﨑邉邊栁濵德禮")


def encoded(residents: int, seed: int, fiscal_year: int = FISCAL_YEAR) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in generate_city(residents, seed, fiscal_year))


def by_type(city: list[dict[str, Any]], rtype: str) -> list[dict[str, Any]]:
    return [r for r in city if r["t"] == rtype]


def age_on(birth: str, on: date) -> int:
    b = date.fromisoformat(birth)
    return on.year - b.year - ((on.month, on.day) < (b.month, b.day))


def has_gaiji(text: str) -> bool:
    return any(ord(ch) > 0xFFFF or ch in GAIJI for ch in text)


# ----- determinism and format ---------------------------------------------------------------------------


def test_same_arguments_give_byte_identical_output() -> None:
    assert encoded(1500, 11) == encoded(1500, 11)


def test_another_seed_or_year_gives_another_city() -> None:
    base = encoded(1500, 11)
    assert encoded(1500, 12) != base
    assert encoded(1500, 11, FISCAL_YEAR - 1) != base


@pytest.mark.parametrize("residents", [3, 4, 10, 1234])
def test_exactly_the_requested_number_of_residents(residents: int) -> None:
    assert sum(r["t"] == "resident" for r in generate_city(residents, 3, FISCAL_YEAR)) == residents


def test_fewer_than_the_demo_household_is_refused() -> None:
    with pytest.raises(ValueError):
        next(generate_city(2, 1, FISCAL_YEAR))


def test_every_record_has_exactly_its_format_fields(city: list[dict[str, Any]]) -> None:
    for rec in city:
        assert check_record(rec) == rec["t"]
        assert list(rec) == ["t", *FIELDS_BY_TYPE[rec["t"]]]


def test_field_types_and_dates(city: list[dict[str, Any]]) -> None:
    date_fields = {"birth_date", "removal_date", "zairyu_expiry", "became_resident_on", "address_set_on"}
    date_fields |= {"moveout_planned_date", "registered_on"}
    for rec in city:
        for name, (sql_type, _) in FIELDS_BY_TYPE[rec["t"]].items():
            value = rec[name]
            if value is None:
                continue
            assert isinstance(value, int if sql_type == "INTEGER" else str), (rec["t"], name)
            if name in date_fields:
                date.fromisoformat(str(value))
        assert rec["version"] >= 1
    for res in by_type(city, "resident"):
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+09:00", res["updated_at"])


# ----- the demo household -------------------------------------------------------------------------------


def test_demo_household_comes_first(city: list[dict[str, Any]]) -> None:
    household = city[0]
    assert household["t"] == "household" and household["household_no"] == DEMO_HOUSEHOLD_NO
    assert household["head_atena_no"] == DEMO_ATENA_NO
    members = [r for r in by_type(city, "resident") if r["household_no"] == DEMO_HOUSEHOLD_NO]
    head = members[0]
    assert head["atena_no"] == DEMO_ATENA_NO
    assert (
        (head["name"], head["name_kana"]) == (DEMO_NAME, DEMO_NAME_KANA) == ("𠮷田　髙志", "よしだ　たかし")
    )
    assert any(ord(ch) > 0xFFFF for ch in head["name"])
    assert (head["address"], head["katagaki"]) == (DEMO_ADDRESS, DEMO_KATAGAKI)
    assert (
        head["kind"] == "japanese"
        and head["status"] == "resident"
        and age_on(head["birth_date"], AS_OF) >= 18
    )
    assert (
        head["moveout_planned_date"] is None and head["in_transition"] == 0 and head["support_measure"] == 0
    )
    assert [m["relationship"] for m in members] == ["世帯主", "妻", "子"]
    assert age_on(members[2]["birth_date"], AS_OF) < 15
    assert all(m["status"] == "resident" and m["support_measure"] == 0 for m in members)
    seals = [s for s in by_type(city, "seal") if s["owner_atena_no"] == DEMO_ATENA_NO]
    assert [s["status"] for s in seals] == ["active"]
    taxes = [t for t in by_type(city, "tax") if t["owner_atena_no"] == DEMO_ATENA_NO]
    assert sorted(t["fiscal_year"] for t in taxes) == list(range(FISCAL_YEAR - 3, FISCAL_YEAR + 1))
    assert all(
        unpaid_amount(t) == 0 and t["no_return_filed"] == 0 and t["municipal_income_levy"] > 0 for t in taxes
    )
    assert all(
        t["collection"] == "special" and t["spouse"] == 1 and t["dependants_young"] == 1 for t in taxes
    )


def test_demo_household_does_not_depend_on_the_seed() -> None:
    def demo(seed: int) -> list[tuple[str, ...]]:
        recs = [r for r in generate_city(3, seed, FISCAL_YEAR) if r["t"] == "resident"]
        return [(r["atena_no"], r["name"], r["birth_date"], r["address"]) for r in recs]

    assert demo(1) == demo(2)


# ----- identifiers and links ----------------------------------------------------------------------------


def test_identifiers_are_valid_and_unique(city: list[dict[str, Any]]) -> None:
    residents = by_type(city, "resident")
    assert len(residents) == CITY_RESIDENTS
    for field, pattern in (("atena_no", r"\d{10}"), ("kojin_bango", r"\d{12}"), ("juminhyo_code", r"\d{11}")):
        values = [r[field] for r in residents]
        assert len(set(values)) == len(values), field
        assert all(re.fullmatch(pattern, v) for v in values), field
    assert all(is_valid_kojin_bango(r["kojin_bango"]) for r in residents)
    cards = [r["zairyu_card_no"] for r in residents if r["zairyu_card_no"]]
    assert len(set(cards)) == len(cards)
    assert all(re.fullmatch(r"[A-Z]{2}\d{8}[A-Z]{2}", c) for c in cards)
    seal_nos = [s["seal_no"] for s in by_type(city, "seal")]
    assert len(set(seal_nos)) == len(seal_nos)
    tax_keys = [(t["owner_atena_no"], t["fiscal_year"]) for t in by_type(city, "tax")]
    assert len(set(tax_keys)) == len(tax_keys)


def test_every_reference_resolves(city: list[dict[str, Any]]) -> None:
    households = {h["household_no"]: h for h in by_type(city, "household")}
    residents = {r["atena_no"]: r for r in by_type(city, "resident")}
    for r in residents.values():
        household = households[r["household_no"]]
        assert r["address"] == household["address"] and r["katagaki"] == household["katagaki"]
        assert r["householder_name"] == residents[household["head_atena_no"]]["name"]
    for h in households.values():
        head = residents[h["head_atena_no"]]
        assert head["household_no"] == h["household_no"] and head["relationship"] == "世帯主"
    for rec in by_type(city, "seal") + by_type(city, "tax"):
        assert rec["owner_atena_no"] in residents


# ----- shape of the population --------------------------------------------------------------------------


def test_household_sizes_are_realistic(city: list[dict[str, Any]]) -> None:
    sizes = Counter(Counter(r["household_no"] for r in by_type(city, "resident")).values())
    assert set(sizes) <= set(range(1, 10))
    assert sizes.most_common(1)[0][0] == 1  # people living alone are the largest group
    assert sizes[2] > sizes[3] > sizes[5]
    mean = CITY_RESIDENTS / len(by_type(city, "household"))
    assert 1.8 <= mean <= 2.6


def test_ages_span_0_to_100_with_children_in_families(city: list[dict[str, Any]]) -> None:
    residents = by_type(city, "resident")
    ages = [age_on(r["birth_date"], AS_OF) for r in residents]
    assert min(ages) == 0 and max(ages) <= 100 and max(ages) >= 95
    assert 0.08 <= sum(a < 15 for a in ages) / len(ages) <= 0.2
    assert 0.15 <= sum(a >= 65 for a in ages) / len(ages) <= 0.35
    heads = {r["household_no"]: r for r in residents if r["relationship"] == "世帯主"}
    for r, age in zip(residents, ages, strict=True):
        if age < 15:
            assert r["relationship"] != "世帯主"
            assert age_on(heads[r["household_no"]]["birth_date"], AS_OF) >= 18


def test_foreign_residents(city: list[dict[str, Any]]) -> None:
    residents = by_type(city, "resident")
    foreign = [r for r in residents if r["kind"] == "foreign"]
    assert 0.012 <= len(foreign) / len(residents) <= 0.03
    for r in foreign:
        assert r["nationality"] and r["name_alpha"] and re.fullmatch(r"[A-Z ]+", r["name_alpha"])
        assert r["honseki"] is None and r["hittousha"] is None
        assert r["art30_45_class"] in {"中長期在留者", "特別永住者", "出生による経過滞在者"}
        if r["art30_45_class"] == "中長期在留者":
            assert r["zairyu_status"] and r["zairyu_card_no"]
    statuses = Counter(r["zairyu_status"] for r in foreign)
    assert {"技能実習", "永住者"} <= set(statuses)
    assert any(r["zairyu_period"] and r["zairyu_expiry"] for r in foreign)
    for r in residents:
        if r["kind"] == "japanese":
            assert (
                r["honseki"] and r["hittousha"] and r["nationality"] is None and r["zairyu_card_no"] is None
            )


def test_gaiji_names_including_beyond_the_bmp(city: list[dict[str, Any]]) -> None:
    residents = by_type(city, "resident")
    share = sum(has_gaiji(r["name"]) for r in residents) / len(residents)
    assert 0.004 <= share <= 0.025
    assert sum(any(ord(ch) > 0xFFFF for ch in r["name"]) for r in residents) >= 5


def test_names_kyuuji_and_tsusho(city: list[dict[str, Any]]) -> None:
    residents = by_type(city, "resident")
    for r in residents:
        assert "　" in r["name"] or r["kind"] == "foreign"
        assert r["name_kana"]
    assert any(r["kyuuji"] for r in residents if r["relationship"] == "妻")
    relationships = Counter(r["relationship"] for r in residents)
    assert {"世帯主", "妻", "子", "母"} <= set(relationships)


def test_addresses_use_real_town_names(city: list[dict[str, Any]]) -> None:
    households = by_type(city, "household")
    towns = sorted((t[0] for t in TOWNS), key=len, reverse=True)
    used = set()
    for h in households:
        assert h["address"].startswith("鹿児島市")
        rest = h["address"][len("鹿児島市") :]
        town = next(t for t in towns if rest.startswith(t))
        used.add(town)
        assert re.search(r"\d+(番\d+号|番地\d*)$", rest)
    assert len(used) >= 30
    assert 0.2 <= sum(h["katagaki"] is not None for h in households) / len(households) <= 0.6


def test_removed_and_flagged_residents(city: list[dict[str, Any]]) -> None:
    residents = by_type(city, "resident")
    removed = [r for r in residents if r["status"] == "removed"]
    assert 0.007 <= len(removed) / len(residents) <= 0.03
    assert {r["removal_reason"] for r in removed} == {"moved_out", "died"}
    for r in residents:
        if r["status"] == "removed":
            assert date.fromisoformat(r["removal_date"]) < AS_OF
            assert r["moveout_planned_date"] is None
        else:
            assert r["status"] == "resident" and r["removal_reason"] is None and r["removal_date"] is None
    planned = [r for r in residents if r["moveout_planned_date"]]
    assert planned and all(r["moveout_planned_address"] for r in planned)
    assert any(r["in_transition"] for r in residents)
    assert any(r["support_measure"] for r in residents)
    assert sum(
        r["in_transition"] or r["support_measure"] or bool(r["moveout_planned_date"]) for r in residents
    ) < (0.03 * len(residents))


def test_seals_belong_mostly_to_adults(city: list[dict[str, Any]]) -> None:
    residents = {r["atena_no"]: r for r in by_type(city, "resident")}
    seals = by_type(city, "seal")
    for s in seals:
        owner = residents[s["owner_atena_no"]]
        assert age_on(owner["birth_date"], date.fromisoformat(s["registered_on"])) >= 15
        if owner["status"] == "removed":
            assert s["status"] == "abolished"
    adults = [
        r for r in residents.values() if r["status"] == "resident" and age_on(r["birth_date"], AS_OF) >= 15
    ]
    with_seal = {s["owner_atena_no"] for s in seals if s["status"] == "active"}
    assert 0.6 <= len(with_seal) / len(adults) <= 0.85
    assert any(s["status"] == "abolished" for s in seals)


def test_tax_records(city: list[dict[str, Any]]) -> None:
    residents = {r["atena_no"]: r for r in by_type(city, "resident")}
    taxes = by_type(city, "tax")
    years = set(range(FISCAL_YEAR - 3, FISCAL_YEAR + 1))
    owners = Counter(t["owner_atena_no"] for t in taxes)
    assert max(owners.values()) == 4
    for t in taxes:
        assert t["fiscal_year"] in years
        owner = residents[t["owner_atena_no"]]
        assert age_on(owner["birth_date"], date(t["fiscal_year"], 1, 1)) >= 16
        income = t["salary_income"] + t["business_income"] + t["pension_income"] + t["other_income"]
        assert t["total_income"] == income
        assert 0 <= t["taxable_income"] <= t["total_income"]
        assert t["municipal_income_levy"] <= t["taxable_income"] * 6 // 100
        assert t["prefectural_income_levy"] <= t["taxable_income"] * 4 // 100
        if t["taxable_income"] >= 1_000_000:
            credits = sum(t[k] for k in ("adjustment_credit", "housing_loan_credit", "donation_credit"))
            assert t["municipal_income_levy"] >= t["taxable_income"] * 6 // 100 - credits * 6 // 10 - 100
        assert record_problem(t, "tax") is None  # the instalments add up to the tax, paid <= due
        assert t["salary_income"] <= t["salary_revenue"] and t["pension_income"] <= t["pension_revenue"]
        assert t["business_income"] <= t["business_revenue"] and t["other_income"] <= t["other_revenue"]
        assert t["forest_env_tax"] == (1_000 if t["municipal_per_capita"] and t["fiscal_year"] >= 2024 else 0)
        if t["municipal_per_capita"]:
            assert (t["municipal_per_capita"], t["prefectural_per_capita"]) in {
                (3_500, 2_000),
                (3_000, 1_500),
            }
    assert any(t["no_return_filed"] for t in taxes)
    assert any(t["not_resident_jan1"] for t in taxes)
    assert any(unpaid_amount(t) > 0 for t in taxes)
    kinds = Counter(t["collection"] for t in taxes)
    assert kinds["special"] and kinds["ordinary"] and kinds["both"]  # 特別徴収, 普通徴収, both
    assert any(t["pension_revenue"] and t["collection"] == "special" for t in taxes)  # 年金特別徴収
    assert any(t["business_income"] and t["collection"] == "ordinary" for t in taxes)  # self-employed
    assert any(t["dependants_young"] for t in taxes) and any(t["dependants_specified"] for t in taxes)
    assert any(t["spouse"] for t in taxes) and any(t["dependants_elderly"] for t in taxes)
    assert any(t["housing_loan_credit"] for t in taxes) and any(t["donation_credit"] for t in taxes)
    latest = [t for t in taxes if t["fiscal_year"] == FISCAL_YEAR and not t["no_return_filed"]]
    taxed = sum(t["municipal_per_capita"] > 0 for t in latest) / len(latest)
    assert 0.4 <= taxed <= 0.85
