"""The kiosk menu: every kind with its fee, what this resident may choose, and why the rest is refused."""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from issuance_server.core import ServerCore
from issuance_server.issuing.eligibility import (
    Facts,
    IssueRequest,
    Policy,
    Refusal,
    holder_refusal,
    household_hidden_refusal,
    kiosk_fiscal_years,
    pending_tax_year,
    refusal_for,
)
from issuance_server.replica.facts import member_id
from wire.kiosk_api import JUMINHYO_OPTIONS, TAX_KINDS, CertificateKind


def menu_for(core: ServerCore, session_id: str, facts: Facts, policy: Policy) -> list[dict[str, Any]]:
    """Every kind, with what this resident may have and, for the rest, why not (as a kiosk may see it).
    ``policy`` is the one the issue step decides with (:func:`issuance.policy_of`)."""
    if policy.missing_glyphs is not None:  # the menu asks ~30 times about the same few texts
        policy = dataclasses.replace(policy, missing_glyphs=functools.cache(policy.missing_glyphs))
    items = []
    for kind in CertificateKind:
        item: dict[str, Any] = {"kind": kind.value, "fee_yen": core.settings.kiosk_fees_yen[kind.value]}
        if kind is CertificateKind.JUMINHYO:
            refusal = refusal_for(IssueRequest(kind), facts, policy)
            item["scopes"] = _scope_choices(facts, policy)
            item["members"] = (
                [
                    {
                        "member_id": member_id(session_id, p["atena_no"]),
                        "name": p["name"],
                        "relationship": p["relationship"],
                    }
                    for p in facts.household
                ]
                if refusal is None
                else []
            )
            item["options"] = options_offered(facts, policy)
            holder = [facts.holder] if facts.holder is not None else []
            item["options_self"] = options_offered(dataclasses.replace(facts, household=holder), policy)
        elif kind in TAX_KINDS:
            refusal = holder_refusal(facts, policy)
            years = [] if refusal is not None else _fiscal_year_choices(kind, facts, policy)
            item["fiscal_years"] = [
                {"fiscal_year": y, "available": r is None, "refusal": _json(r)} for y, r in years
            ]
            if years and all(r is not None for _, r in years):
                refusal = years[-4][1]  # no year at all: say why for the latest open one
        else:
            refusal = refusal_for(IssueRequest(kind), facts, policy)
        item["available"] = refusal is None
        item["refusal"] = _json(refusal)
        items.append(item)
    return items


# Items that only one kind of resident has on a 住民票: 本籍・筆頭者 (Japanese nationals), the residence card's
# number (foreign residents); offered when someone in the household has them.
_FOR_KIND = {"honseki": "japanese", "zairyu_card_no": "foreign"}


def options_offered(facts: Facts, policy: Policy) -> list[str]:
    kinds = {p.get("kind") for p in facts.household}

    def offered(option: str) -> bool:
        if option == "kojin_bango":
            return policy.allow_kojin_bango
        needs = _FOR_KIND.get(option)
        return needs is None or not kinds or needs in kinds

    return [o for o in JUMINHYO_OPTIONS if offered(o)]


def _fiscal_year_choices(
    kind: CertificateKind, facts: Facts, policy: Policy
) -> list[tuple[int, Refusal | None]]:
    """The four years a kiosk issues, and first the year that has begun but is not open yet (refused with
    the day it opens), if any."""
    pending = pending_tax_year(facts.today, policy.tax_year_opens)
    years = [pending] if pending is not None else []
    years += kiosk_fiscal_years(facts.today, policy.tax_year_opens)
    return [(y, refusal_for(IssueRequest(kind, fiscal_year=y), facts, policy)) for y in years]


def _scope_choices(facts: Facts, policy: Policy) -> list[dict[str, Any]]:
    out = []
    for scope in ("self", "household"):
        refusal = refusal_for(IssueRequest(CertificateKind.JUMINHYO, scope=scope), facts, policy)
        out.append({"scope": scope, "available": refusal is None, "refusal": _json(refusal)})
    household_ok = out[1]["available"]
    hidden = household_hidden_refusal(facts)  # refuses every choice of members alike
    out.append(
        {
            "scope": "members",
            "available": out[0]["available"] and hidden is None,
            "refusal": _json(hidden) if hidden is not None else None if household_ok else out[1]["refusal"],
        }
    )
    return out


def _json(refusal: Refusal | None) -> dict[str, Any] | None:
    return refusal.for_kiosk() if refusal is not None else None
