"""The one place that decides what may be issued to whom at a kiosk, with reasons residents can act on.

Input: the facts about the card holder read in one replica transaction (:class:`Facts`), the request
(:class:`IssueRequest`) and the city's policy (:class:`Policy`). Output: None (may issue) or a
:class:`Refusal` with a stable code and a message in Japanese and English.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from issuance_server.api_errors import clip
from issuance_server.service_hours import ServiceCalendar
from issuance_server.settings import Settings
from wire.kiosk_api import ASK_AT_CITY_HALL, JUMINHYO_OPTIONS, JUMINHYO_SCOPES, TAX_KINDS, CertificateKind
from wire.linkage import parse_instalments
from wire.wareki import format_nendo


@dataclass(frozen=True)
class Refusal:
    code: str
    message_ja: str
    message_en: str
    params: Mapping[str, str] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The whole reason, for the desk and the audit log."""
        return {
            "code": self.code,
            "params": dict(self.params),
            "message_ja": self.message_ja,
            "message_en": self.message_en,
        }

    def for_kiosk(self) -> dict[str, Any]:
        """What a store terminal may learn: a code (one neutral code for every reason that must not be
        told there) and its parameters; the kiosk renders it in the resident's language."""
        if self.code in TOLD_ONLY_AT_CITY_HALL:
            return {"code": ASK_AT_CITY_HALL, "params": {}}
        return {"code": self.code, "params": dict(self.params)}


# Reasons a store terminal must not tell, nor let anyone infer (支援措置 above all): they share one code.
TOLD_ONLY_AT_CITY_HALL = frozenset(
    {
        "support_measure",
        "in_transition",
        "household_in_transition",
        "records_inconsistent",
        "not_in_replica",
        "removed",
    }
)


_HALL_JA = "市役所の窓口でお手続きください。"
_HALL_EN = "Please ask at the city hall counter."


def _r(code: str, ja: str, en: str, hall: bool = True) -> Refusal:
    return Refusal(code, ja + (_HALL_JA if hall else ""), en + (" " + _HALL_EN if hall else ""))


REFUSALS: dict[str, Refusal] = {
    r.code: r
    for r in (
        _r("not_in_replica", "住民記録が見つかりません。", "No resident record was found."),
        _r("removed", "住民登録がありません（消除）。", "You are no longer registered as a resident."),
        _r(
            "under_15",
            "15歳未満の方はコンビニ交付を利用できません。",
            "Residents under 15 cannot use kiosk issuance.",
        ),
        _r(
            "moveout_planned",
            "転出の届出があるため発行できません。",
            "A move-out has been filed, so a kiosk cannot issue this.",
        ),
        _r(
            "household_moveout_planned",
            "世帯に転出の届出がある方がいるため、世帯での発行はできません。",
            "Someone in the household has filed a move-out, so a kiosk cannot issue for the household.",
        ),
        _r("in_transition", "住民記録の異動手続中のため発行できません。", "Your record is being updated."),
        _r(
            "household_in_transition",
            "世帯に住民記録の異動手続中の方がいるため発行できません。",
            "A household member's record is being updated.",
        ),
        _r(
            "support_measure",
            "この証明書はコンビニでは発行できません。",
            "This certificate cannot be issued at a kiosk.",
        ),
        _r(
            "unprintable_character",
            "お名前または住所に、この端末で印字できない文字があります。",
            "A name or address has a character kiosks cannot print.",
        ),
        _r("no_active_seal", "登録されている印鑑がありません。", "You have no registered seal."),
        _r("seal_cancelled", "印鑑登録は廃止されています。", "Your seal registration was cancelled."),
        _r(
            "no_tax_record",
            "この年度の税の記録がありません。",
            "There is no tax record for this fiscal year.",
        ),
        _r(
            "no_return_filed",
            "この年度の申告がないため発行できません。",
            "No tax return was filed for this fiscal year.",
        ),
        _r(
            "not_resident_jan1",
            "この年度の1月1日に本市に住所がなかったため、本市では発行できません。",
            "You did not live in this city on 1 January of that year; ask the city you lived in then.",
            hall=False,
        ),
        _r(
            "unpaid_tax",
            "未納の税額があるため納税証明書を発行できません。",
            "There is unpaid tax for this year.",
        ),
        _r(
            "outside_hours",
            "ただいまサービス時間外です。",
            "The service is closed at this hour.",
            hall=False,
        ),
        _r(
            "year_end_closed",
            "年末年始はサービスを休止しています。",
            "The service is closed over the new year.",
            hall=False,
        ),
        _r(
            "maintenance",
            "ただいまシステムの保守のためサービスを休止しています。",
            "The service is closed for maintenance.",
            hall=False,
        ),
        _r(
            "option_not_allowed",
            "この項目はコンビニでは記載できません。",
            "This item cannot be printed at a kiosk.",
        ),
        _r(
            "fiscal_year_unavailable",
            "この年度の証明書は発行できません。",
            "Kiosks issue the last four fiscal years.",
        ),
        _r(  # as issued, the message names the day: fiscal_year_not_open()
            "fiscal_year_not_open",
            "この年度の証明書はまだ発行できません。",
            "This fiscal year's certificates cannot be issued yet.",
            hall=False,
        ),
        _r(
            "records_inconsistent",
            "住民記録の確認が必要なため、この証明書はコンビニでは発行できません。",
            "The records need checking, so a kiosk cannot issue this certificate.",
        ),
        _r(
            "replica_too_old",
            "住民記録の確認ができないため、現在発行できません。しばらくしてからご利用ください。",
            "The records cannot be confirmed now, so nothing can be issued. Please try again later.",
            hall=False,
        ),
    )
}


def month_day(text: str) -> tuple[int, int]:
    """``MM-DD`` (a day from 04-01 to 12-31, when a fiscal year's certificates may open) as (month, day);
    ``ValueError`` otherwise."""
    if len(text) != 5 or text[2] != "-" or not (text[:2] + text[3:]).isdigit():
        raise ValueError(f"a day of the year as MM-DD, not {text!r}")
    month, day = int(text[:2]), int(text[3:])
    try:
        date(2023, month, day)  # not a leap year: 02-29 is no yearly day
    except ValueError:
        raise ValueError(f"a day of the year as MM-DD, not {text!r}") from None
    if month < 4:
        raise ValueError(f"a day from 04-01 (the fiscal year's first) to 12-31, not {text!r}")
    return month, day


# The embedded default of the tax_year_opens setting (declared in settings.py), for callers without a Policy.
DEFAULT_TAX_YEAR_OPENS = month_day(
    next(f.default for f in dataclasses.fields(Settings) if f.name == "tax_year_opens")  # type: ignore[arg-type]
)


PRINTED_TEXT_FIELDS = ("name", "name_kana", "name_alpha", "tsusho", "address", "katagaki", "householder_name")


@dataclass(frozen=True)
class Policy:
    allow_kojin_bango: bool
    calendar: ServiceCalendar | None  # None: no service hours (the counter)
    missing_glyphs: Callable[[str], list[str]] | None = None
    maintenance: bool = False  # the server is in maintenance mode
    replica_stale: bool = False  # in recovery, the replica is older than the maximum age
    min_age: int | None = 15  # kiosks serve card holders aged 15 and over; None at the counter
    tax_year_opens: tuple[int, int] = DEFAULT_TAX_YEAR_OPENS  # (month, day): the tax_year_opens setting


@dataclass(frozen=True)
class IssueRequest:
    kind: str
    scope: str = "self"  # juminhyo: self, household, members
    members: tuple[str, ...] = ()  # juminhyo scope 'members': 宛名番号 of the chosen members
    options: frozenset[str] = frozenset()
    fiscal_year: int | None = None  # tax kinds


@dataclass
class Facts:
    """What the rules look at, read from the replica in one transaction."""

    now: datetime  # Japan time
    holder: dict[str, Any] | None
    household: list[dict[str, Any]] = field(default_factory=list)  # current members, holder included
    seals: list[dict[str, Any]] = field(default_factory=list)  # the holder's seal records
    tax: dict[int, dict[str, Any]] = field(default_factory=dict)  # fiscal year -> the holder's record

    @property
    def today(self) -> date:
        return self.now.date()

    def active_seal(self) -> dict[str, Any] | None:
        return next((s for s in self.seals if s["status"] == "active"), None)


def age_on(birth: date, today: date) -> int:
    return today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))


def current_tax_year(today: date, opens: tuple[int, int] = DEFAULT_TAX_YEAR_OPENS) -> int:
    """The latest fiscal year whose certificates are issued: municipal tax for year Y is assessed in May
    and June of Y; its certificates open on the city's day ``opens`` (month, day)."""
    return today.year if (today.month, today.day) >= opens else today.year - 1


def kiosk_fiscal_years(today: date, opens: tuple[int, int] = DEFAULT_TAX_YEAR_OPENS) -> list[int]:
    latest = current_tax_year(today, opens)
    return [latest - i for i in range(4)]


def pending_tax_year(today: date, opens: tuple[int, int]) -> int | None:
    """The fiscal year that has begun (1 April) but whose certificates are not open yet, if any."""
    return today.year if (4, 1) <= (today.month, today.day) < opens else None


_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")  # fmt: skip


def fiscal_year_not_open(fiscal_year: int, opens: tuple[int, int]) -> Refusal:
    """The refusal naming the day a fiscal year's certificates open (the kiosk gets the numbers)."""
    month, day = opens
    era = format_nendo(fiscal_year)
    return Refusal(
        "fiscal_year_not_open",
        f"{era}の証明書は{month}月{day}日から発行できます。",
        f"Certificates for fiscal year {fiscal_year} can be issued from {day} {_MONTHS[month - 1]}.",
        {"fiscal_year": str(fiscal_year), "month": str(month), "day": str(day)},
    )


def unpaid_overdue(record: Mapping[str, Any], today: date) -> int:
    """Yen of the instalments past their 納期限 and not paid in full (滞納). A 特別徴収 amount, whose
    payment the city does not see (the employer or pension payer owes it), never counts."""
    return sum(
        amount - paid
        for _, due, amount, paid in parse_instalments(record["instalments"])
        if paid is not None and due is not None and date.fromisoformat(due) < today
    )


def _person_refusal(person: Mapping[str, Any] | None) -> Refusal | None:
    if person is None:
        return REFUSALS["not_in_replica"]
    if person["status"] != "resident":
        return REFUSALS["removed"]
    if person["support_measure"]:
        return REFUSALS["support_measure"]
    if person["in_transition"]:
        return REFUSALS["in_transition"]
    if person["moveout_planned_date"]:
        return REFUSALS["moveout_planned"]
    return None


def _printable(persons: Sequence[Mapping[str, Any]], policy: Policy) -> Refusal | None:
    if policy.missing_glyphs is None:
        return None
    text = "".join(str(p[f]) for p in persons for f in PRINTED_TEXT_FIELDS if p.get(f))
    return REFUSALS["unprintable_character"] if policy.missing_glyphs(text) else None


def holder_refusal(facts: Facts, policy: Policy) -> Refusal | None:
    """Refusals that apply to every kind: service closed, stale data, the holder's own state, age."""
    if policy.maintenance:
        return REFUSALS["maintenance"]
    if policy.calendar is not None:
        closed = policy.calendar.closed_reason(facts.now)
        if closed is not None:
            return dataclasses.replace(REFUSALS[closed], params=policy.calendar.params(closed, facts.now))
    if policy.replica_stale:
        return REFUSALS["replica_too_old"]
    refusal = _person_refusal(facts.holder)
    if refusal is not None:
        return refusal
    assert facts.holder is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    if (
        policy.min_age is not None
        and age_on(date.fromisoformat(facts.holder["birth_date"]), facts.today) < policy.min_age
    ):
        return REFUSALS["under_15"]
    return _printable([facts.holder], policy)


def juminhyo_persons(req: IssueRequest, facts: Facts) -> list[dict[str, Any]]:
    """The persons a 住民票の写し request prints, householder first (raises KeyError for a stranger)."""
    assert facts.holder is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    if req.scope == "self":
        return [facts.holder]
    by_id = {p["atena_no"]: p for p in facts.household}
    if req.scope == "household":
        return list(facts.household)
    if not req.members:
        raise KeyError("")
    chosen = set(req.members)
    missing = chosen - set(by_id)
    if missing:
        raise KeyError(sorted(missing)[0])
    return [p for p in facts.household if p["atena_no"] in chosen]


def refusal_for(req: IssueRequest, facts: Facts, policy: Policy) -> Refusal | None:
    """None if ``req`` may be issued to the card holder now; else why not. Raises ValueError for a
    request that is malformed rather than refused (unknown kind, scope, option, member)."""
    refusal = holder_refusal(facts, policy)
    if refusal is not None:
        return refusal
    assert facts.holder is not None  # noqa: S101  an invariant that narrows a type, not a check of input
    kind = CertificateKind(req.kind)
    if kind is CertificateKind.JUMINHYO:
        return _juminhyo_refusal(req, facts, policy)
    if req.options or req.scope != "self" or req.members:
        raise ValueError(
            "options, scope and members are for 住民票の写し only; other kinds are the card holder's own"
        )
    if kind is CertificateKind.INKAN:
        if facts.active_seal() is not None:
            return None
        return REFUSALS["seal_cancelled"] if facts.seals else REFUSALS["no_active_seal"]
    assert kind in TAX_KINDS  # noqa: S101  an invariant that narrows a type, not a check of input
    return _tax_refusal(kind, req.fiscal_year, facts, policy.tax_year_opens)


def _juminhyo_refusal(req: IssueRequest, facts: Facts, policy: Policy) -> Refusal | None:
    if req.scope not in JUMINHYO_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(JUMINHYO_SCOPES)}")
    unknown = req.options - set(JUMINHYO_OPTIONS)
    if unknown:
        raise ValueError(f"unknown option {clip(sorted(unknown)[0])!r}")
    if "kojin_bango" in req.options and not policy.allow_kojin_bango:
        return REFUSALS["option_not_allowed"]
    try:
        persons = juminhyo_persons(req, facts)
    except KeyError:
        raise ValueError("choose one or more members of your own household") from None
    if req.scope != "self":
        hidden = household_hidden_refusal(facts)
        if hidden is not None:  # whoever is chosen: naming members one by one must not find the one
            return hidden
    for person in persons:
        refusal = _person_refusal(person)
        if refusal is not None and person is not facts.holder:
            code = {
                "moveout_planned": "household_moveout_planned",
                "in_transition": "household_in_transition",
            }
            return REFUSALS.get(code.get(refusal.code, ""), refusal)
    return _printable(persons, policy)


def household_hidden_refusal(facts: Facts) -> Refusal | None:
    """A reason told only at the city hall that applies to another member of the holder's household
    (支援措置, 異動中): then no 住民票 of the household, nor of chosen members, is issued at a kiosk."""
    for person in facts.household:
        if facts.holder is not None and person["atena_no"] == facts.holder["atena_no"]:
            continue
        refusal = _person_refusal(person)
        if refusal is not None and refusal.code in TOLD_ONLY_AT_CITY_HALL:
            code = {"in_transition": "household_in_transition"}.get(refusal.code, refusal.code)
            return REFUSALS[code]
    return None


def _tax_refusal(
    kind: CertificateKind, fiscal_year: int | None, facts: Facts, opens: tuple[int, int]
) -> Refusal | None:
    if fiscal_year is None:
        raise ValueError("fiscal_year is required for tax certificates")
    if fiscal_year == pending_tax_year(facts.today, opens):
        return fiscal_year_not_open(fiscal_year, opens)
    if fiscal_year not in kiosk_fiscal_years(facts.today, opens):
        return REFUSALS["fiscal_year_unavailable"]
    record = facts.tax.get(fiscal_year)
    if record is None:
        return REFUSALS["no_tax_record"]
    if record["not_resident_jan1"]:
        return REFUSALS["not_resident_jan1"]
    if record["no_return_filed"]:  # no return: no assessment to certify, nor its payment
        return REFUSALS["no_return_filed"]
    if kind is CertificateKind.TAX_PAYMENT and unpaid_overdue(record, facts.today):
        return REFUSALS["unpaid_tax"]
    return None
