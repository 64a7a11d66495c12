"""Synthetic records for tests (never real people)."""

from __future__ import annotations

from typing import Any

from konbini_demo import people
from konbini_demo.people import kojin_bango

__all__ = ["household", "kojin_bango", "resident", "seal", "tax"]


def resident(atena_no: str = people.HOLDER_ATENA_NO, **over: Any) -> dict[str, Any]:
    base = people.householder(
        atena_no, born="1980-04-01", address_set_on="2015-06-01", previous_address="鹿児島市中央町1番1号"
    )
    base.update(over)
    return {"t": "resident", **base}


def household(household_no: str, head: str) -> dict[str, Any]:
    return {
        "t": "household",
        "household_no": household_no,
        "head_atena_no": head,
        "address": people.ADDRESS,
        "katagaki": None,
        "version": 1,
    }


def seal(seal_no: str, owner: str, status: str = "active") -> dict[str, Any]:
    return {"t": "seal", **people.seal_record(owner, seal_no=seal_no, status=status)}


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
