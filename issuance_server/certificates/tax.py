"""The four tax certificates (one fiscal year each): values of ``templates/tax_*.toml`` from a tax record.

所得額証明書 (income items and total), 課税・非課税証明書 (課税 or 非課税 and the basis), 所得額・課税額証明書
(income, 市民税/県民税 所得割・均等割 and the total) and 納税証明書 (tax, paid, unpaid). Amounts print as
``1,234,000円`` in right-aligned columns; the year as 令和8年度 (令和7年分 for the income it assesses).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from issuance_server.certificates import engine
from issuance_server.certificates.document import Content
from issuance_server.certificates.formatting import check_person, identity_values, text, yen
from issuance_server.certificates.wareki import format_nendo, format_year

TITLES: Final = {
    "tax_income": "所得額証明書",
    "tax_status": "課税・非課税証明書",
    "tax_income_assessment": "所得額・課税額証明書",
    "tax_payment": "納税証明書",
}
AMOUNTS: Final = (
    "salary_income",
    "business_income",
    "pension_income",
    "other_income",
    "total_income",
    "deductions",
    "taxable_income",
    "municipal_income_levy",
    "municipal_per_capita",
    "prefectural_income_levy",
    "prefectural_per_capita",
    "paid",
    "unpaid",
)
TAX_ITEM_NAME: Final = "市民税・県民税（個人）"


def _amount(tax: Mapping[str, Any], key: str) -> int:
    value = tax.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"tax record field {key} is not a yen amount")
    return value


def status_and_basis(tax: Mapping[str, Any]) -> tuple[str, str]:
    """(課税 or 非課税, the basis as printed)."""
    income_levy = _amount(tax, "municipal_income_levy") + _amount(tax, "prefectural_income_levy")
    per_capita = _amount(tax, "municipal_per_capita") + _amount(tax, "prefectural_per_capita")
    if income_levy > 0:
        return "課税", "所得割・均等割ともに課税"
    if per_capita > 0:
        return "課税", "均等割のみ課税（所得割は非課税）"
    return "非課税", "合計所得金額が非課税限度額以下のため非課税"


def content(
    kind: str,
    person: Mapping[str, Any],
    tax: Mapping[str, Any] | None,
    options: frozenset[str] = frozenset(),
) -> Content:
    """The ``kind`` certificate of ``person`` for the fiscal year of ``tax``.

    ``ValueError`` when the record is another person's, or certifies nothing (no return filed, not
    resident on 1 January): the rules refuse those before; this is the last guard.
    """
    if kind not in TITLES:
        raise ValueError(f"not a tax certificate kind: {kind!r}")
    check_person(person)
    if tax is None:
        raise ValueError(f"{kind} needs the tax record of the chosen fiscal year")
    if text(tax, "owner_atena_no") != text(person, "atena_no"):
        raise ValueError("the tax record belongs to another person")
    if tax.get("no_return_filed") or tax.get("not_resident_jan1"):
        raise ValueError(
            "the tax record has no assessment to certify (no return, or not resident on 1 January)"
        )
    fiscal_year = tax.get("fiscal_year")
    if isinstance(fiscal_year, bool) or not isinstance(fiscal_year, int):
        raise ValueError("the tax record lacks its fiscal year")
    amounts = {key: _amount(tax, key) for key in AMOUNTS}
    municipal = amounts["municipal_income_levy"] + amounts["municipal_per_capita"]
    prefectural = amounts["prefectural_income_levy"] + amounts["prefectural_per_capita"]
    status, basis = status_and_basis(tax)
    values = {key: yen(value) for key, value in amounts.items()}
    values.update(
        title=TITLES[kind],
        fiscal_year=format_nendo(fiscal_year),
        income_year=format_year(fiscal_year - 1),
        tax_item=TAX_ITEM_NAME,
        municipal_total=yen(municipal),
        prefectural_total=yen(prefectural),
        tax_total=yen(municipal + prefectural),
        tax_status=status,
        tax_basis=basis,
        no_arrears="未納の税額はありません。" if amounts["unpaid"] == 0 else "",
    )
    return Content(
        template=kind,
        values=values,
        persons=[engine.PersonInput(values=identity_values(person), kind=str(person["kind"]))],
        options=options,  # the templates have none: any is refused when laid out
    )
