"""Plausible 個人住民税 figures for synthetic taxpayers of Kagoshima City (a 中核市: rates 6% + 4%).

Simplified on purpose, in the shape of the real assessment: 給与所得控除 and 公的年金等控除 by the post-2020
rules, business and other income as a share of revenue; 所得控除 item by item (社会保険料 as a share of revenue,
生命保険料 and 地震保険料 for some, 医療費 for a few, 配偶者 330,000, 扶養 330,000 / 特定 450,000 / 老人 380,000
yen a person, 基礎 430,000, 障害者 for a few); 非課税 below the 1級地 limits (450,000 yen alone, 350,000 × persons
+ 310,000 / 420,000 with family); 税額控除: 調整控除, 住宅借入金等特別税額控除 and 寄附金税額控除 for some, split 6:4
between city and prefecture. 均等割: city 3,500 + prefecture 2,000 yen up to fiscal 2023 (with the
reconstruction surcharge), 3,000 + 1,500 yen (1,000 + the prefecture's own 森林環境税 500) from fiscal 2024, with
the national 森林環境税 1,000 yen. Collection: the employer withholds salaried persons' tax (給与特別徴収), the
pension payer that of pensioners (年金特別徴収); the rest is paid in four 期 (普通徴収).
"""

from __future__ import annotations

import json
import random
from datetime import date, timedelta
from typing import Any

from wire.linkage import parse_instalments, tax_due

BASIC_DEDUCTION = 430_000
SPOUSE_DEDUCTION = 330_000
DEPENDANT_DEDUCTION = {"general": 330_000, "specified": 450_000, "elderly": 380_000}
NON_TAXABLE_INCOME = 450_000
MUNICIPAL_RATE_PCT = 6
PREFECTURAL_RATE_PCT = 4
FOREST_ENV_TAX = 1_000  # 森林環境税 (国税) from fiscal 2024
ORDINARY_DUE = ((6, 30), (8, 31), (10, 31), (1, 31))  # 普通徴収 第1期..第4期 (the last in the next year)

_ZERO_AMOUNTS = (
    "salary_revenue", "salary_income", "pension_revenue", "pension_income", "business_revenue",
    "business_income", "other_revenue", "other_income", "total_income", "social_insurance_deduction",
    "life_insurance_deduction", "earthquake_insurance_deduction", "medical_deduction", "spouse_deduction",
    "dependant_deduction", "basic_deduction", "other_deductions", "deductions", "spouse", "dependants_general",
    "dependants_specified", "dependants_elderly", "dependants_young", "taxable_income", "adjustment_credit",
    "housing_loan_credit", "donation_credit", "other_credits", "municipal_income_levy", "municipal_per_capita",
    "prefectural_income_levy", "prefectural_per_capita", "forest_env_tax",
)  # fmt: skip


class IncomeProfile:
    """What one person earns in the latest year (earlier years scale from it), and whom they support."""

    __slots__ = (
        "business", "dependants", "elderly", "files_return", "insurance", "other", "pension_revenue",
        "salary_revenue", "specified", "spouse", "withheld", "young",
    )  # fmt: skip

    def __init__(
        self,
        salary_revenue: int = 0,
        business: int = 0,
        pension_revenue: int = 0,
        other: int = 0,
        dependants: int = 0,
        files_return: bool = True,
        *,
        specified: int = 0,
        elderly: int = 0,
        young: int = 0,
        spouse: bool = False,
        withheld: bool = True,
        insurance: tuple[int, int, int, int, int, int] = (0, 0, 0, 0, 0, 0),
    ) -> None:
        self.salary_revenue = salary_revenue
        self.business = business  # 営業等所得
        self.pension_revenue = pension_revenue
        self.other = other  # その他の所得
        self.dependants = dependants  # 一般扶養親族
        self.files_return = files_return
        self.specified = specified  # 特定扶養親族 (19-22)
        self.elderly = elderly  # 老人扶養親族
        self.young = young  # 年少扶養親族 (under 16)
        self.spouse = spouse  # 控除対象配偶者
        self.withheld = withheld  # the employer withholds the tax (給与特別徴収)
        # 生命保険料, 地震保険料, 医療費 deductions, 住宅借入金 credit, 寄附金 (donated), 障害者等 deductions
        self.insurance = insurance


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


def pension_income(revenue: int) -> int:
    """公的年金等に係る雑所得 of a person aged 65 or over (other income up to 10 million yen)."""
    if revenue <= 3_300_000:
        return max(0, revenue - 1_100_000)
    if revenue <= 4_100_000:
        return revenue * 75 // 100 - 275_000
    if revenue <= 7_700_000:
        return revenue * 85 // 100 - 685_000
    return revenue * 95 // 100 - 1_455_000


def per_capita_levies(fiscal_year: int) -> tuple[int, int]:
    """(市民税均等割, 県民税均等割) in yen for a fiscal year."""
    return (3_500, 2_000) if fiscal_year <= 2023 else (3_000, 1_500)


def _round_k(yen: float) -> int:
    return int(yen) // 1000 * 1000


def income_profile(
    rng: random.Random,
    age: int,
    sex: str,
    role: str,
    dependants: int,
    family: tuple[int, int, int] = (0, 0, 0),
) -> IncomeProfile:
    """Draw a person's income. ``role``: 'head' (householder with a spouse), 'spouse', 'single', 'other';
    ``dependants``: children 16-22 of the household; ``family``: (children under 16, members aged 70 or
    over, has a spouse) — the householder supports them."""
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
    head = role == "head"
    young, elderly, spouse = family if head else (0, 0, 0)
    specified = sum(rng.random() < 0.6 for _ in range(dependants)) if head else 0
    insurance = (
        _round_k(28_000 + rng.random() * 42_000) if salary and rng.random() < 0.6 else 0,  # 生命保険料
        _round_k(5_000 + rng.random() * 20_000) if rng.random() < 0.25 else 0,  # 地震保険料
        _round_k(rng.random() * 300_000) if rng.random() < 0.05 else 0,  # 医療費
        _round_k(30_000 + rng.random() * 67_500) if salary > 3_500_000 and rng.random() < 0.08 else 0,
        _round_k(10_000 + rng.random() * 90_000) if salary > 4_000_000 and rng.random() < 0.15 else 0,
        260_000 if rng.random() < 0.02 else 0,  # 障害者控除
    )
    return IncomeProfile(
        salary, business, pension, other, (dependants - specified) if head else 0, files,
        specified=specified, elderly=elderly, young=young, spouse=bool(spouse) and rng.random() < 0.4,
        withheld=rng.random() < 0.9, insurance=insurance,
    )  # fmt: skip


def _empty(owner: str, fiscal_year: int, no_return: bool, version: int) -> dict[str, Any]:
    rec: dict[str, Any] = {"t": "tax", "owner_atena_no": owner, "fiscal_year": fiscal_year}
    rec.update(dict.fromkeys(_ZERO_AMOUNTS, 0))
    rec.update(collection=None, instalments="[]", no_return_filed=int(no_return))
    rec.update(not_resident_jan1=int(not no_return), version=version)
    return rec


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
    """One linkage ``tax`` record; ``scale`` multiplies the profile's revenues for this year. Instalments
    count as paid (the synthetic city pays on time) except, for ``unpaid``, the last ``4 - unpaid_quarters``
    期 of the 普通徴収."""
    if not_resident_jan1 or not p.files_return:
        return _empty(owner, fiscal_year, not not_resident_jan1, version)
    salary_rev = int(p.salary_revenue * scale) // 1000 * 1000
    business = int(p.business * scale) // 1000 * 1000
    pension_rev = int(p.pension_revenue * scale) // 1000 * 1000
    rec = _empty(owner, fiscal_year, False, version)
    rec.update(
        not_resident_jan1=0,
        salary_revenue=salary_rev,
        salary_income=salary_income(salary_rev),
        pension_revenue=pension_rev,
        pension_income=pension_income(pension_rev),
        business_revenue=business * 100 // 45 // 1000 * 1000 if business else 0,  # expenses: 55%
        business_income=business,
        other_revenue=p.other * 100 // 60 // 1000 * 1000 if p.other else 0,
        other_income=p.other,
        spouse=int(p.spouse),
        dependants_general=p.dependants,
        dependants_specified=p.specified,
        dependants_elderly=p.elderly,
        dependants_young=p.young,
    )
    life, quake, medical, _, _, disabled = p.insurance
    social = salary_rev * 15 // 100 + business * 12 // 100 + pension_rev * 5 // 100
    rec.update(
        social_insurance_deduction=social // 1000 * 1000,
        life_insurance_deduction=life,
        earthquake_insurance_deduction=quake,
        medical_deduction=max(0, medical - 100_000),
        spouse_deduction=SPOUSE_DEDUCTION * p.spouse,
        dependant_deduction=sum(
            DEPENDANT_DEDUCTION[k] * n
            for k, n in (("general", p.dependants), ("specified", p.specified), ("elderly", p.elderly))
        ),
        basic_deduction=BASIC_DEDUCTION,
        other_deductions=disabled,
    )
    return assess(rec, p, unpaid, unpaid_quarters)


def assess(
    rec: dict[str, Any], p: IncomeProfile | None, unpaid: bool, unpaid_quarters: int
) -> dict[str, Any]:
    """Fill totals, credits, levies and instalments of ``rec`` from its income and deduction items."""
    fy = rec["fiscal_year"]
    total = sum(rec[k] for k in ("salary_income", "pension_income", "business_income", "other_income"))
    deduction_keys = (
        "social_insurance_deduction", "life_insurance_deduction", "earthquake_insurance_deduction",
        "medical_deduction", "spouse_deduction", "dependant_deduction", "basic_deduction", "other_deductions",
    )  # fmt: skip
    deductions = sum(rec[k] for k in deduction_keys)
    taxable = max(0, total - deductions) // 1000 * 1000
    family = rec["spouse"] + rec["dependants_general"] + rec["dependants_specified"]
    family += rec["dependants_elderly"] + rec["dependants_young"]
    per_capita_limit = NON_TAXABLE_INCOME if not family else 350_000 * (1 + family) + 310_000
    income_limit = NON_TAXABLE_INCOME if not family else 350_000 * (1 + family) + 420_000
    rec.update(total_income=total, deductions=deductions, taxable_income=taxable)
    rec.update(adjustment_credit=0, housing_loan_credit=0, donation_credit=0, other_credits=0)
    muni_pc, pref_pc = per_capita_levies(fy) if total > per_capita_limit else (0, 0)
    muni_levy = pref_levy = 0
    if total > income_limit and taxable:
        gross = taxable * (MUNICIPAL_RATE_PCT + PREFECTURAL_RATE_PCT) // 100
        diff = (
            50_000
            + 50_000 * (rec["spouse"] + rec["dependants_general"])
            + 130_000 * rec["dependants_specified"]
        )
        diff += 100_000 * rec["dependants_elderly"]
        base = min(diff, taxable) if taxable <= 2_000_000 else max(diff - (taxable - 2_000_000), 50_000)
        adjustment = min(gross, base * 5 // 100)
        housing = donated = 0
        if p is not None:
            housing = min(p.insurance[3], 97_500, (gross - adjustment) // 2)
            if p.insurance[4]:
                donated = min((p.insurance[4] - 2_000) * 9 // 10, (gross - adjustment - housing) // 5)
        credits = adjustment + housing + donated
        muni_levy = max(0, taxable * MUNICIPAL_RATE_PCT // 100 - credits * 6 // 10) // 100 * 100
        pref_levy = max(0, taxable * PREFECTURAL_RATE_PCT // 100 - credits * 4 // 10) // 100 * 100
        rec.update(adjustment_credit=adjustment, housing_loan_credit=housing, donation_credit=donated)
    rec.update(
        municipal_income_levy=muni_levy,
        municipal_per_capita=muni_pc,
        prefectural_income_levy=pref_levy,
        prefectural_per_capita=pref_pc,
        forest_env_tax=FOREST_ENV_TAX if muni_pc and fy >= 2024 else 0,
    )
    withheld = p.withheld if p is not None else rec["collection"] in ("special", "both")
    rec.update(instalments_of(rec, withheld, unpaid, unpaid_quarters))
    return rec


def due_date(fiscal_year: int, period: int) -> date:
    """The 納期限 of 第``period``期 (普通徴収): the month's last day, or the next weekday after a weekend."""
    month, day = ORDINARY_DUE[period - 1]
    due = date(fiscal_year + (month < 4), month, day)
    while due.weekday() >= 5:
        due += timedelta(days=1)
    return due


def instalments_of(rec: dict[str, Any], withheld: bool, unpaid: bool, unpaid_quarters: int) -> dict[str, Any]:
    """``collection`` and ``instalments`` of a tax record: the salary's and pension's share withheld
    (特別徴収) when ``withheld``; the rest in four 期, 1,000-yen amounts with the remainder in 第1期."""
    due = tax_due(rec)
    if not due:
        return {"collection": None, "instalments": "[]"}
    withholdable = rec["salary_income"] + rec["pension_income"] if withheld else 0
    special = (
        due if withholdable >= rec["total_income"] else due * withholdable // max(1, rec["total_income"])
    )
    special = special // 100 * 100 if special < due else special
    ordinary = due - special
    items: list[list[Any]] = [[0, None, special, None]] if special else []
    if ordinary:
        each = ordinary // 4 // 1000 * 1000
        amounts = [ordinary - 3 * each, each, each, each]
        for period, amount in enumerate(amounts, 1):
            if amount:
                paid = 0 if unpaid and period > unpaid_quarters else amount
                items.append([period, due_date(rec["fiscal_year"], period).isoformat(), amount, paid])
    collection = "both" if special and ordinary else "special" if special else "ordinary"
    return {"collection": collection, "instalments": json.dumps(items, separators=(",", ":"))}


def unpaid_amount(rec: dict[str, Any]) -> int:
    """Yen of the known instalments not yet paid (特別徴収, whose payment the city does not see, excluded)."""
    return sum(a - p for _, _, a, p in parse_instalments(rec["instalments"]) if p is not None)


def pay(rec: dict[str, Any], amount: int) -> dict[str, Any]:
    """``rec`` after a payment of ``amount`` yen, applied to the earliest unpaid 期."""
    items: list[list[Any]] = [list(i) for i in parse_instalments(rec["instalments"])]
    for item in items:
        if item[3] is not None and item[3] < item[2] and amount > 0:
            part = min(amount, item[2] - item[3])
            item[3] += part
            amount -= part
    return {**rec, "instalments": json.dumps(items, separators=(",", ":"))}


def reassessed(record: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """A tax record after a 更正 (salary and business income change by up to 15%) or, for a record without a
    return, after a late 申告 (a salary is declared). What each 期 had paid stays paid, up to its new amount."""
    out = dict(record)
    if out["no_return_filed"]:
        revenue = _round_k(1_000_000 + rng.random() * 4_000_000)
        out.update(salary_revenue=revenue, salary_income=salary_income(revenue), no_return_filed=0)
        out.update(
            social_insurance_deduction=revenue * 15 // 100 // 1000 * 1000, basic_deduction=BASIC_DEDUCTION
        )
        out["collection"] = "ordinary"  # a late return is paid by the taxpayer
    else:
        factor = 0.85 + rng.random() * 0.3
        for key in ("salary_revenue", "business_revenue"):
            out[key] = int(out[key] * factor) // 1000 * 1000
        out["salary_income"] = salary_income(out["salary_revenue"])
        out["business_income"] = int(out["business_income"] * factor) // 1000 * 1000
    paid = {i[0]: i[3] for i in parse_instalments(record["instalments"])}
    out = assess(out, None, False, 4)
    items: list[list[Any]] = [list(i) for i in parse_instalments(out["instalments"])]
    for item in items:
        if item[3] is not None:
            item[3] = min(item[2], paid.get(item[0]) or 0)
    out["instalments"] = json.dumps(items, separators=(",", ":"))
    return out
