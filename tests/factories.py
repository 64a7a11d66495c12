"""Synthetic records for tests (never real people)."""

from __future__ import annotations

from typing import Any

from wire.linkage import FIELDS_BY_TYPE, kojin_bango_check_digit


def kojin_bango(n: int) -> str:
    first = f"{n:011d}"
    return first + str(kojin_bango_check_digit(first))


def resident(atena_no: str = "0000000101", **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = dict.fromkeys(FIELDS_BY_TYPE["resident"])
    base.update(
        atena_no=atena_no,
        household_no="1" + atena_no[1:],
        kojin_bango=kojin_bango(int(atena_no)),
        juminhyo_code="9" + atena_no,
        kind="japanese",
        status="resident",
        name="𠮷田　髙志",
        name_kana="よしだ　たかし",
        birth_date="1980-04-01",
        sex="M",
        address="鹿児島市山下町11番1号",
        katagaki="山下レジデンス101号",
        relationship="世帯主",
        householder_name="𠮷田　髙志",
        honseki="鹿児島県鹿児島市山下町11番地",
        hittousha="𠮷田　髙志",
        became_resident_on="1980-04-01",
        address_set_on="2015-06-01",
        previous_address="鹿児島市中央町1番1号",
        in_transition=0,
        support_measure=0,
        version=1,
        updated_at="2026-11-01T00:00:00Z",
    )
    base.update(over)
    return {"t": "resident", **base}


def household(household_no: str, head: str) -> dict[str, Any]:
    return {
        "t": "household",
        "household_no": household_no,
        "head_atena_no": head,
        "address": "鹿児島市山下町11番1号",
        "katagaki": None,
        "version": 1,
    }


def seal(seal_no: str, owner: str, status: str = "active") -> dict[str, Any]:
    return {
        "t": "seal",
        "seal_no": seal_no,
        "owner_atena_no": owner,
        "impression": "𠮷田",
        "registered_on": "2010-04-01",
        "status": status,
        "version": 1,
    }


def tax(owner: str, fiscal_year: int, **over: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "t": "tax",
        "owner_atena_no": owner,
        "fiscal_year": fiscal_year,
        "salary_income": 4_200_000,
        "business_income": 0,
        "pension_income": 0,
        "other_income": 0,
        "total_income": 2_960_000,
        "deductions": 1_130_000,
        "taxable_income": 1_830_000,
        "municipal_income_levy": 109_800,
        "municipal_per_capita": 3_500,
        "prefectural_income_levy": 73_200,
        "prefectural_per_capita": 1_500,
        "paid": 188_000,
        "unpaid": 0,
        "no_return_filed": 0,
        "not_resident_jan1": 0,
        "version": 1,
    }
    rec.update(over)
    return rec
