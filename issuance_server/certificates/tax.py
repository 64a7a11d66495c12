"""The four tax certificates (one fiscal year each): values of ``templates/tax_*.toml`` from a tax record.

Kagoshima City's names (its コンビニ交付 page): 所得額証明書 (income per kind, 所得控除, 扶養), 課税額（非課税）証明書
(市民税・県民税 所得割・均等割 per tax, 森林環境税; titled 非課税証明書 when nothing is levied), 所得額・課税額証明書
(both, with the 税額控除) and 市・県民税納税証明書 (期別, 納期限, 税額, 納付済額, 未納額). The titles and sentences are
the templates' text; this module only supplies values: amounts as ``1,234,000円``, persons as ``1人``, dates
and years in 和暦, and flags (``taxed``, ``non_taxed``, ...) that are non-empty when they hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any, Final

from issuance_server.certificates.document import Content
from issuance_server.certificates.formatting import check_person, identity_values, text, yen
from issuance_server.certificates.layout import PersonInput
from issuance_server.certificates.template import load_template
from wire.linkage import TAX_FIELDS, parse_instalments
from wire.wareki import format_nendo, format_wareki, format_year

KINDS: Final = ("tax_income", "tax_status", "tax_income_assessment", "tax_payment")
TITLES: Final = KINDS  # the kinds this module renders (the printed titles are in the templates)
COUNTS: Final = ("dependants_general", "dependants_specified", "dependants_elderly", "dependants_young")
AMOUNTS: Final = tuple(
    k for k, (t, _) in TAX_FIELDS.items() if t == "INTEGER" and k not in (*COUNTS, "spouse", "fiscal_year")
    and k not in ("no_return_filed", "not_resident_jan1", "version")
)  # fmt: skip
CREDITS: Final = ("adjustment_credit", "housing_loan_credit", "donation_credit", "other_credits")
TAX_ITEM_NAME: Final = "市民税・県民税（個人）"
COLLECTION: Final = {"ordinary": "普通徴収", "special": "特別徴収", "both": "特別徴収・普通徴収"}
_PERIOD_SLOT: Final = re.compile(r"\{inst(\d+)_amount\}")


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


def _period_slots(kind: str) -> int:
    """How many 普通徴収 期 the kind's template has rows for (``{instN_amount}``)."""
    template = load_template(kind)
    tables = (template.block, *template.tables)
    found = [
        int(n)
        for t in tables
        for r in t.rows
        for c in r.cells
        for v in c.value
        for n in _PERIOD_SLOT.findall(v)
    ]
    return max(found, default=0)


def _instalment_values(kind: str, tax: Mapping[str, Any]) -> dict[str, str]:
    """期別 values: ``special_amount`` (特別徴収), ``instN_*`` for each 期, the 普通徴収 totals, and
    ``no_arrears`` when every amount's payment is known and all is paid."""
    try:
        instalments = parse_instalments(tax.get("instalments"))
    except ValueError as exc:
        raise ValueError(f"tax record field instalments {exc}") from None
    values = {"special_amount": "", "ordinary_paid": "", "ordinary_unpaid": "", "no_arrears": ""}
    slots = _period_slots(kind) if kind == "tax_payment" else None
    ordinary = [i for i in instalments if i[0] > 0]
    for period, due, amount, paid in instalments:
        if period == 0:
            values["special_amount"] = yen(amount)
            continue
        if slots is not None and period > slots:
            raise ValueError(f"the tax record has 第{period}期; the {kind} template prints {slots}")
        assert due is not None and paid is not None  # noqa: S101  an invariant that narrows a type, not a check of input
        values.update(
            {
                f"inst{period}_period": f"第{period}期",
                f"inst{period}_due": format_wareki(date.fromisoformat(due)),
                f"inst{period}_amount": yen(amount),
                f"inst{period}_paid": yen(paid),
                f"inst{period}_unpaid": yen(amount - paid),
            }
        )
    for n in range(1, (slots or 0) + 1):
        for part in ("period", "due", "amount", "paid", "unpaid"):
            values.setdefault(f"inst{n}_{part}", "")
    if ordinary:
        values["ordinary_paid"] = yen(sum(i[3] or 0 for i in ordinary))
        values["ordinary_unpaid"] = yen(sum(i[2] - (i[3] or 0) for i in ordinary))
    if instalments and not values["special_amount"] and all(i[3] == i[2] for i in ordinary):
        values["no_arrears"] = "1"
    return values


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
    if kind not in KINDS:
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
    counts = {key: _amount(tax, key) for key in (*COUNTS, "spouse")}
    municipal = amounts["municipal_income_levy"] + amounts["municipal_per_capita"]
    prefectural = amounts["prefectural_income_levy"] + amounts["prefectural_per_capita"]
    status, basis = status_and_basis(tax)
    values = {key: yen(value) for key, value in amounts.items()}
    values.update({key: f"{value}人" for key, value in counts.items() if key != "spouse"})
    values.update(
        fiscal_year=format_nendo(fiscal_year),
        income_year=format_year(fiscal_year - 1),
        tax_item=TAX_ITEM_NAME,
        spouse_text="有" if counts["spouse"] else "無",
        dependants_total=f"{sum(counts[k] for k in COUNTS)}人",
        credits_total=yen(sum(amounts[k] for k in CREDITS)),
        income_levy_total=yen(amounts["municipal_income_levy"] + amounts["prefectural_income_levy"]),
        per_capita_total=yen(amounts["municipal_per_capita"] + amounts["prefectural_per_capita"]),
        per_capita_grand_total=yen(
            amounts["municipal_per_capita"] + amounts["prefectural_per_capita"] + amounts["forest_env_tax"]
        ),
        municipal_total=yen(municipal),
        prefectural_total=yen(prefectural),
        tax_total=yen(municipal + prefectural),
        grand_total=yen(municipal + prefectural + amounts["forest_env_tax"]),
        tax_status=status,
        tax_basis=basis,
        taxed="1" if status == "課税" else "",
        non_taxed="1" if status == "非課税" else "",
        collection=COLLECTION.get(str(tax.get("collection")), ""),
    )
    values.update(_instalment_values(kind, tax))
    return Content(
        template=kind,
        values=values,
        persons=[PersonInput(values=identity_values(person), kind=str(person["kind"]))],
        options=options,  # the templates have none: any is refused when laid out
    )
