"""The resident's choices for a certificate (scope, members, items, fiscal year, copies), taken only as the
menu offered them."""

from __future__ import annotations

from typing import Any

from kiosk.session_steps import StepError
from wire.kiosk_api import JUMINHYO_OPTIONS, MAX_COPIES


def default_choices(item: dict[str, Any]) -> dict[str, Any]:
    """What a kind's options screen starts with: one copy, the resident alone, the latest fiscal year."""
    choices: dict[str, Any] = {"copies": 1}
    if item["kind"] == "juminhyo":
        choices.update(scope="self", members=[], options=[])
    elif "fiscal_years" in item:
        years = [y["fiscal_year"] for y in item["fiscal_years"] if y["available"]]
        choices["fiscal_year"] = years[0] if years else None
    return choices


def checked_choices(item: dict[str, Any], choices: dict[str, Any]) -> dict[str, Any]:
    """The resident's choices, only as the menu offered them (StepError otherwise)."""
    try:
        return _offered_choices(item, choices)
    except TypeError:  # lists or objects where a name was expected
        raise StepError("bad_choice", "a choice has the wrong type") from None


def _offered_choices(item: dict[str, Any], choices: dict[str, Any]) -> dict[str, Any]:

    def bad(what: str) -> StepError:
        return StepError("bad_choice", what)

    copies = choices.get("copies", 1)
    if not isinstance(copies, int) or isinstance(copies, bool) or not 1 <= copies <= MAX_COPIES:
        raise bad(f"copies must be 1 to {MAX_COPIES}")
    out: dict[str, Any] = {"copies": copies}
    if item["kind"] == "juminhyo":
        scopes = {s["scope"] for s in item.get("scopes", []) if s["available"]}
        scope = choices.get("scope", "self")
        if scope not in scopes:
            raise bad(f"scope must be one of {', '.join(sorted(scopes))}")
        members = choices.get("members") or []
        offered = {m["member_id"] for m in item.get("members", [])}
        if scope == "members" and (
            not members or not isinstance(members, list) or not set(members) <= offered
        ):
            raise bad("choose one or more members of the household list")
        options = choices.get("options") or []
        if not isinstance(options, list) or not set(options) <= set(item.get("options", [])) & set(
            JUMINHYO_OPTIONS
        ):
            raise bad("an item that is not offered was chosen")
        out.update(scope=scope, members=list(members) if scope == "members" else [], options=sorted(options))
    elif "fiscal_years" in item:
        years = {y["fiscal_year"] for y in item["fiscal_years"] if y["available"]}
        year = choices.get("fiscal_year")
        if year not in years:
            raise bad("choose one of the fiscal years offered")
        out["fiscal_year"] = year
    elif set(choices) - {"copies"}:
        raise bad("this certificate has no options")
    return out
