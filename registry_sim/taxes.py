"""Plausible 個人住民税 figures for synthetic taxpayers of Kagoshima City (a 中核市: rates 6% + 4%).

Simplified on purpose: 給与所得控除 and 公的年金等控除 by the post-2020 rules, 基礎控除 430,000 yen,
social insurance as a share of revenue, 330,000 yen per dependant, the minimum 調整控除, and 非課税 at a total
income of 450,000 yen or less. 均等割: city 3,500 + prefecture 2,000 yen up to fiscal 2023 (with the
reconstruction surcharge), 3,000 + 1,500 yen (1,000 + the prefecture's 森林環境税 500) from fiscal 2024.
"""

from __future__ import annotations

import random
from typing import Any

BASIC_DEDUCTION = 430_000
DEPENDANT_DEDUCTION = 330_000
NON_TAXABLE_INCOME = 450_000
MUNICIPAL_RATE_PCT = 6
PREFECTURAL_RATE_PCT = 4


class IncomeProfile:
    """What one person earns in the latest year; earlier years scale from it."""

    __slots__ = ("business", "dependants", "files_return", "other", "pension_revenue", "salary_revenue")

    def __init__(
        self,
        salary_revenue: int = 0,
        business: int = 0,
        pension_revenue: int = 0,
        other: int = 0,
        dependants: int = 0,
        files_return: bool = True,
    ) -> None:
        self.salary_revenue = salary_revenue
        self.business = business
        self.pension_revenue = pension_revenue
        self.other = other
        self.dependants = dependants
        self.files_return = files_return


def salary_income(revenue: int) -> int:
    """給与所得: revenue minus 給与所得控除 (rules from 2020)."""
    if revenue <= 550_999:
        return 0
    if revenue <= 1_625_000:
        ded = 550_000
    elif revenue <= 1_800_000:
        ded = revenue * 40 // 100 - 100_000
    elif revenue <= 3_600_000:
        ded = revenue * 30 // 100 + 80_000
    elif revenue <= 6_600_000:
        ded = revenue * 20 // 100 + 440_000
    elif revenue <= 8_500_000:
        ded = revenue * 10 // 100 + 1_100_000
    else:
        ded = 1_950_000
    return revenue - ded


def per_capita_levies(fiscal_year: int) -> tuple[int, int]:
    """(市民税均等割, 県民税均等割) in yen for a fiscal year."""
    return (3_500, 2_000) if fiscal_year <= 2023 else (3_000, 1_500)


def _round_k(yen: float) -> int:
    return int(yen) // 1000 * 1000


def income_profile(rng: random.Random, age: int, sex: str, role: str, dependants: int) -> IncomeProfile:
    """Draw a person's income. ``role``: 'head' (householder with a spouse), 'spouse', 'single', 'other'."""
    r = rng.random()
    salary = business = pension = 0
    if age >= 65:
        if r < 0.92:
            pension = _round_k((900_000 if sex == "F" else 1_500_000) * (0.6 + rng.random()))
        if rng.random() < 0.18 and age < 80:
            salary = _round_k(500_000 + rng.random() * 2_000_000)
        elif rng.random() < 0.05:
            business = _round_k(300_000 + rng.random() * 3_000_000)
    elif age < 18:
        if r < 0.15:
            salary = _round_k(200_000 + rng.random() * 700_000)
    elif age < 23 and role == "other":
        if r < 0.45:
            salary = _round_k(300_000 + rng.random() * 900_000)
        elif r < 0.80:
            salary = _round_k(2_000_000 + rng.random() * 1_000_000)
    elif role == "spouse":
        if r < 0.45:
            salary = _round_k(600_000 + rng.random() * 700_000)
        elif r < 0.75:
            salary = _round_k(rng.lognormvariate(14.9, 0.35))
    else:
        if r < 0.83:
            median_log = 15.15 if sex == "M" else 14.9
            salary = _round_k(min(rng.lognormvariate(median_log, 0.45), 25_000_000))
        elif r < 0.93:
            business = _round_k(800_000 + rng.random() * 6_000_000)
    other = _round_k(100_000 + rng.random() * 1_400_000) if rng.random() < 0.03 else 0
    has_income = bool(salary or business or pension or other)
    files = has_income or rng.random() >= 0.3
    return IncomeProfile(salary, business, pension, other, dependants if role == "head" else 0, files)


def tax_record(
    owner: str,
    fiscal_year: int,
    p: IncomeProfile,
    scale: float,
    unpaid: bool,
    unpaid_quarters: int,
    not_resident_jan1: bool,
    version: int,
) -> dict[str, Any]:
    """One linkage ``tax`` record; ``scale`` multiplies the profile's revenues for this year."""
    if not_resident_jan1 or not p.files_return:
        return {
            "t": "tax", "owner_atena_no": owner, "fiscal_year": fiscal_year,
            "salary_income": 0, "business_income": 0, "pension_income": 0, "other_income": 0,
            "total_income": 0, "deductions": 0, "taxable_income": 0,
            "municipal_income_levy": 0, "municipal_per_capita": 0,
            "prefectural_income_levy": 0, "prefectural_per_capita": 0,
            "paid": 0, "unpaid": 0,
            "no_return_filed": 0 if not_resident_jan1 else 1,
            "not_resident_jan1": 1 if not_resident_jan1 else 0,
            "version": version,
        }  # fmt: skip
    salary_rev = int(p.salary_revenue * scale) // 1000 * 1000
    sal = salary_income(salary_rev)
    business = int(p.business * scale) // 1000 * 1000
    pension_rev = int(p.pension_revenue * scale) // 1000 * 1000
    pension = pension_rev - 1_100_000 if pension_rev > 1_100_000 else 0
    other = p.other
    total = sal + business + pension + other
    social = salary_rev * 15 // 100 + business * 12 // 100 + pension_rev * 5 // 100
    deductions = BASIC_DEDUCTION + social // 1000 * 1000 + p.dependants * DEPENDANT_DEDUCTION
    taxable = max(0, total - deductions) // 1000 * 1000
    muni_levy, muni_pc, pref_levy, pref_pc = levies(fiscal_year, total, taxable)
    due = muni_levy + muni_pc + pref_levy + pref_pc
    paid = due * unpaid_quarters // 4 // 100 * 100 if unpaid and due else due
    return {
        "t": "tax", "owner_atena_no": owner, "fiscal_year": fiscal_year,
        "salary_income": sal, "business_income": business, "pension_income": pension, "other_income": other,
        "total_income": total, "deductions": deductions, "taxable_income": taxable,
        "municipal_income_levy": muni_levy, "municipal_per_capita": muni_pc,
        "prefectural_income_levy": pref_levy, "prefectural_per_capita": pref_pc,
        "paid": paid, "unpaid": due - paid,
        "no_return_filed": 0, "not_resident_jan1": 0,
        "version": version,
    }  # fmt: skip


def levies(fiscal_year: int, total: int, taxable: int) -> tuple[int, int, int, int]:
    """(市民税所得割, 市民税均等割, 県民税所得割, 県民税均等割) for a total income and 課税標準額."""
    if total <= NON_TAXABLE_INCOME:
        return 0, 0, 0, 0
    muni_pc, pref_pc = per_capita_levies(fiscal_year)
    muni_levy = max(0, taxable * MUNICIPAL_RATE_PCT // 100 - 1_500) // 100 * 100
    pref_levy = max(0, taxable * PREFECTURAL_RATE_PCT // 100 - 1_000) // 100 * 100
    return muni_levy, muni_pc, pref_levy, pref_pc


def reassessed(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A tax record after a 更正 (salary and business income change by up to 15%) or, for a record without a
    return, after a late 申告 (a salary is declared). Payments stay; what is due and not paid is ``unpaid``."""
    out = dict(record)
    if out["no_return_filed"]:
        revenue = _round_k(1_000_000 + rng.random() * 4_000_000)
        out["salary_income"] = salary_income(revenue)
        out["deductions"] = BASIC_DEDUCTION + revenue * 15 // 100 // 1000 * 1000
        out["no_return_filed"] = 0
    else:
        factor = 0.85 + rng.random() * 0.3
        for field in ("salary_income", "business_income"):
            out[field] = int(out[field] * factor) // 1000 * 1000
    total = out["salary_income"] + out["business_income"] + out["pension_income"] + out["other_income"]
    taxable = max(0, total - out["deductions"]) // 1000 * 1000
    muni_levy, muni_pc, pref_levy, pref_pc = levies(out["fiscal_year"], total, taxable)
    due = muni_levy + muni_pc + pref_levy + pref_pc
    paid = min(out["paid"], due)
    out.update(
        total_income=total,
        taxable_income=taxable,
        municipal_income_levy=muni_levy,
        municipal_per_capita=muni_pc,
        prefectural_income_levy=pref_levy,
        prefectural_per_capita=pref_pc,
        paid=paid,
        unpaid=due - paid,
    )
    return out
