"""Synthetic records for tests (never real people)."""

from __future__ import annotations

import json
from typing import Any

from konbini_demo import people
from konbini_demo.people import kojin_bango
from wire.linkage import tax_due

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


def tax(owner: str, fiscal_year: int, *, unpaid: int = 0, **over: Any) -> dict[str, Any]:
    """A 普通徴収 taxpayer's record for ``fiscal_year``: four 期 past their 納期限 (dated in the year before the
    fiscal year's calendar, so they are due whenever the test runs), the last ``unpaid`` yen not paid."""
    rec: dict[str, Any] = {"t": "tax", **people.tax_record(owner, fiscal_year=fiscal_year)}
    due = tax_due(rec)
    each = due // 4
    amounts = [due - 3 * each, each, each, each]
    paid = list(amounts)
    paid[3] -= min(unpaid, each)
    dates = [f"{fiscal_year - 1}-0{m}-28" for m in (6, 7, 8, 9)]
    items = [[n + 1, dates[n], amounts[n], paid[n]] for n in range(4)]
    rec.update(collection="ordinary", instalments=json.dumps(items, separators=(",", ":")))
    rec.update(over)
    return rec
