"""Synthetic people (never real persons) and their seal and tax records, for the certificate samples
(``scripts/make_samples.py``), the tests and the benches: one place for the 𠮷田 family, its householder
𠮷田　髙志 and a foreign resident, each a dict with every ``RESIDENT_FIELDS`` key."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from registry_sim.generator import DEMO_ADDRESS, DEMO_KATAGAKI, DEMO_NAME, DEMO_NAME_KANA
from wire.linkage import RESIDENT_FIELDS, SEAL_FIELDS, TAX_FIELDS, kojin_bango_check_digit

ADDRESS: Final = DEMO_ADDRESS
KATAGAKI: Final = DEMO_KATAGAKI
HONSEKI: Final = "鹿児島県鹿児島市山下町11番地"
PREVIOUS_ADDRESS: Final = "鹿児島市東千石町1番1号"
HOLDER_ATENA_NO: Final = "0000000101"
HOLDER_NAME: Final = DEMO_NAME
HOLDER_KANA: Final = DEMO_NAME_KANA
UPDATED_AT: Final = "2026-11-01T00:00:00Z"

FOREIGN_RESIDENT: Final[Mapping[str, Any]] = {
    "kind": "foreign",
    "name": "グエン　ヴァン　アン",
    "name_kana": "グエン　ヴァン　アン",
    "name_alpha": "NGUYEN VAN AN",
    "tsusho": "山本　安",
    "birth_date": "1995-03-04",
    "relationship": "世帯主",
    "householder_name": "グエン　ヴァン　アン",
    "nationality": "ベトナム",
    "art30_45_class": "中長期在留者",
    "zairyu_status": "技術・人文知識・国際業務",
    "zairyu_period": "3年",
    "zairyu_expiry": "2028-03-31",
    "zairyu_card_no": "AB12345678CD",
}
"""What makes a resident the synthetic foreign resident グエン　ヴァン　アン (with a 通称)."""


def kojin_bango(n: int) -> str:
    """A 12-digit 個人番号 with the legal check digit, made from ``n``."""
    first = f"{n:011d}"
    return first + str(kojin_bango_check_digit(first))


def resident(atena_no: str, **fields: Any) -> dict[str, Any]:
    """A synthetic resident (every RESIDENT_FIELDS key) of 山下町, its numbers made from ``atena_no``;
    ``fields`` (name, birth date, ...) are set last."""
    record: dict[str, Any] = dict.fromkeys(RESIDENT_FIELDS)
    record.update(
        atena_no=atena_no,
        household_no="1" + atena_no[1:],
        kojin_bango=kojin_bango(int(atena_no)),
        juminhyo_code="9" + atena_no,
        kind="japanese",
        status="resident",
        sex="M",
        address=ADDRESS,
        katagaki=KATAGAKI,
        became_resident_on="2015-06-30",
        address_set_on="2015-06-30",
        previous_address=PREVIOUS_ADDRESS,
        honseki=HONSEKI,
        in_transition=0,
        support_measure=0,
        version=1,
    )
    record.update(fields)
    return record


def householder(atena_no: str = HOLDER_ATENA_NO, born: str = "1980-01-01", **fields: Any) -> dict[str, Any]:
    """𠮷田　髙志, householder and 筆頭者, a resident since birth (``fields`` are set last)."""
    return resident(
        atena_no,
        **{
            "name": HOLDER_NAME,
            "name_kana": HOLDER_KANA,
            "birth_date": born,
            "relationship": "世帯主",
            "householder_name": HOLDER_NAME,
            "hittousha": HOLDER_NAME,
            "became_resident_on": born,
            "updated_at": UPDATED_AT,
            **fields,
        },
    )


def yoshida_household() -> list[dict[str, Any]]:
    """The 𠮷田 household of nine (the householder first), names with 外字 and 異体字; 﨑子 has a 旧氏."""
    members = [
        ("𠮷田　髙志", "よしだ　たかし", "1972-04-12", "M", "世帯主"),
        ("𠮷田　﨑子", "よしだ　さきこ", "1974-09-03", "F", "妻"),
        ("𠮷田　一郎", "よしだ　いちろう", "2000-01-20", "M", "子"),
        ("𠮷田　二葉", "よしだ　ふたば", "2002-05-05", "F", "子"),
        ("𠮷田　三郎", "よしだ　さぶろう", "2004-07-07", "M", "子"),
        ("𠮷田　四季", "よしだ　しき", "2006-11-11", "F", "子"),
        ("𠮷田　五郎", "よしだ　ごろう", "2009-02-28", "M", "子"),
        ("𠮷田　邉", "よしだ　ほとり", "1946-08-15", "F", "母"),
        ("𠮷田　栁太", "よしだ　りゅうた", "1944-03-01", "M", "父"),
    ]
    return [
        resident(
            f"00000001{i:02d}",
            name=name,
            name_kana=kana,
            birth_date=born,
            sex=sex,
            relationship=relation,
            householder_name=HOLDER_NAME,
            hittousha=HOLDER_NAME,
            became_resident_on=born if i not in (7, 8) else "2015-06-30",
            kyuuji="中村" if relation == "妻" else None,
        )
        for i, (name, kana, born, sex, relation) in enumerate(members)
    ]


def seal_record(owner: str = HOLDER_ATENA_NO, **over: Any) -> dict[str, Any]:
    """The registered seal 𠮷田 (every SEAL_FIELDS key) of ``owner``."""
    seal: dict[str, Any] = dict.fromkeys(SEAL_FIELDS)
    seal.update(seal_no="0012345", owner_atena_no=owner, impression="𠮷田", registered_on="2010-04-01")
    seal.update(status="active", version=1)
    seal.update(over)
    return seal


def tax_record(owner: str = HOLDER_ATENA_NO, **over: Any) -> dict[str, Any]:
    """A salaried taxpayer's 令和8年度 (2026) assessment (every TAX_FIELDS key, 0 unless set): 給与 with a
    little business and other income, a spouse and two dependants (one under 16), 税額控除, 森林環境税;
    特別徴収 for the salary's share and 普通徴収 in four 期 for the rest, all paid."""
    tax: dict[str, Any] = dict.fromkeys(TAX_FIELDS, 0)
    tax.update(
        owner_atena_no=owner,
        fiscal_year=2026,
        salary_revenue=6_200_000,
        salary_income=4_520_000,
        business_revenue=400_000,
        business_income=120_000,
        other_revenue=60_000,
        other_income=35_000,
        total_income=4_675_000,
        social_insurance_deduction=930_000,
        life_insurance_deduction=56_000,
        earthquake_insurance_deduction=25_000,
        medical_deduction=24_000,
        spouse_deduction=330_000,
        dependant_deduction=450_000,
        basic_deduction=430_000,
        deductions=2_245_000,
        spouse=1,
        dependants_specified=1,
        dependants_young=1,
        taxable_income=2_430_000,
        adjustment_credit=7_500,
        donation_credit=18_000,
        municipal_income_levy=130_500,
        municipal_per_capita=3_000,
        prefectural_income_levy=87_000,
        prefectural_per_capita=1_500,
        forest_env_tax=1_000,
        collection="both",
        instalments=(
            '[[0,null,211000,null],[1,"2026-06-30",3000,3000],[2,"2026-08-31",3000,3000],'
            '[3,"2026-11-02",3000,3000],[4,"2027-02-01",3000,3000]]'
        ),
        version=1,
    )
    tax.update(over)
    return tax
