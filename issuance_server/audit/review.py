"""The month's review of the operation logs (the seed's monthly check and report): figures read from the
audit trail only, and the anomaly rules, with their thresholds from the settings, in this one module
(which also owns ``audit_reviews``: who reviewed which month).

Every figure and anomaly names the audit rows (``seq``) it comes from, so an auditor can open the rows
behind it. Times are Japan time: a month is a JST month, a day a JST day.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import partial
from typing import Any

from issuance_server.api_errors import ApiError, clip
from issuance_server.audit import store
from issuance_server.audit.trail import Actor, append_sync
from issuance_server.core import ServerCore
from issuance_server.service_hours import parse_office_days, parse_office_hours
from issuance_server.storage.engine import Row, Tx
from wire.clock import JST, to_iso, utc_now_iso
from wire.kiosk_api import Channel

FAILED_LOGIN = frozenset({"denied", "denied_second_factor", "locked", "refused_locked"})


@dataclass(frozen=True)
class ReviewRules:
    """When activity is an anomaly (thresholds per staff member and JST day) and what office hours are."""

    office_opens: time
    office_closes: time
    office_days: frozenset[int]  # 0 = Monday
    failed_logins_per_day: int
    searches_per_day: int
    mynumber_views_per_day: int
    voids_per_day: int

    @classmethod
    def from_settings(cls, s: Any) -> ReviewRules:
        opens, closes = parse_office_hours(s.office_hours)
        return cls(
            opens,
            closes,
            parse_office_days(s.office_days),
            s.review_failed_logins_per_day,
            s.review_searches_per_day,
            s.review_mynumber_views_per_day,
            s.review_voids_per_day,
        )

    def in_office(self, moment: datetime) -> bool:
        local = moment.astimezone(JST)
        return local.weekday() in self.office_days and self.office_opens <= local.time() < self.office_closes


def month_range(month: str) -> tuple[datetime, datetime]:
    """The JST month ``YYYY-MM`` as [start, end) instants; raises ValueError for anything else."""
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise ValueError(f"month must be YYYY-MM, not {clip(month)!r}") from None
    if len(month) != 7:
        raise ValueError(f"month must be YYYY-MM, not {clip(month)!r}")
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    start = datetime.combine(first, time(0), JST)
    return start, datetime.combine(following, time(0), JST)


def _at(row: Mapping[str, Any]) -> datetime:
    return datetime.fromisoformat(str(row["at"]).replace("Z", "+00:00"))


def _day(row: Mapping[str, Any]) -> str:
    return _at(row).astimezone(JST).date().isoformat()


def review(rows: Iterable[Mapping[str, Any]], month: str, rules: ReviewRules) -> dict[str, Any]:
    """The month's figures and anomalies from its audit rows (rows outside the month are ignored)."""
    start, end = month_range(month)
    issued: dict[str, Counter[str]] = defaultdict(Counter)
    by_form: Counter[str] = Counter()  # kiosk issuances by the credential the resident signed in with
    failed: dict[str, list[int]] = defaultdict(list)
    failed_days: Counter[str] = Counter()
    locked: list[int] = []
    pin_locks: list[int] = []
    guard_alarms: list[dict[str, Any]] = []
    views: dict[str, list[int]] = defaultdict(list)
    after_hours: dict[str, list[int]] = defaultdict(list)
    voids: list[int] = []
    refunds: list[int] = []
    refunded_yen = 0
    switches: list[dict[str, Any]] = []
    per_day: dict[tuple[str, str, str], list[int]] = defaultdict(list)  # (rule, staff or '', day) -> seqs
    count = 0
    for row in rows:
        moment = _at(row)
        if not start <= moment < end:
            continue
        count += 1
        seq, action, result, actor = int(row["seq"]), row["action"], row["result"], row["actor_id"]
        details = json.loads(row["details"]) if row["details"] else {}
        day = _day(row)
        staff = row["actor_kind"] == "staff"
        if action == "issue" and result == "ok":
            issued[day][details.get("channel", Channel.KIOSK.value)] += 1
            if details.get("channel", Channel.KIOSK.value) == Channel.KIOSK.value:
                by_form[details.get("form", "card")] += 1  # before issue 34 only cards signed in
        elif action == "staff_login" and result in FAILED_LOGIN:
            failed[actor].append(seq)
            failed_days[day] += 1
            per_day[("failed_logins", actor, day)].append(seq)
            if result == "locked":
                locked.append(seq)
        elif (action == "authenticate" and details.get("locked_now")) or (
            action == "card_pin_blocked" and result == "locked"
        ):
            pin_locks.append(seq)  # by wrong PINs at the server, or the card's own counter (a kiosk's report)
        elif action == "print_guard":
            guard_alarms.append(
                {"seq": seq, "at": moment.astimezone(JST).isoformat(timespec="seconds"), "actor": actor,
                 "staff": staff, "terminal": row["terminal"], "serial": details.get("serial"),
                 "finding": details.get("finding"), "sheet": details.get("sheet", 0)}
            )  # fmt: skip
        elif action == "mynumber_view":
            views[actor].append(seq)
            per_day[("mynumber_views", actor, day)].append(seq)
        elif action == "resident_search":
            per_day[("searches", actor, day)].append(seq)
        elif action == "mode_switch":
            switches.append(
                {"seq": seq, "at": moment.astimezone(JST).isoformat(timespec="seconds"), "actor": actor,
                 "from": details.get("previous"), "to": details.get("mode"), "manual": details.get("manual"),
                 "reason": details.get("reason", "")}
            )  # fmt: skip
        if (action == "void_unprinted") or (action == "print_report" and result == "voided"):
            voids.append(seq)
            per_day[("voids", "", day)].append(seq)
        if int(details.get("refund_yen", 0) or 0) > 0 or action == "refund_abandoned_payments":
            refunds.append(seq)
            refunded_yen += int(details.get("refund_yen", 0) or 0)
        if staff and not rules.in_office(moment):
            after_hours[actor].append(seq)
    limits = {
        "failed_logins": (rules.failed_logins_per_day, "failed logins by {who} on {day}"),
        "searches": (rules.searches_per_day, "resident searches by {who} on {day}"),
        "mynumber_views": (rules.mynumber_views_per_day, "個人番号 views by {who} on {day}"),
        "voids": (rules.voids_per_day, "voided certificates on {day}"),
    }
    anomalies = [
        {"rule": rule, "staff_id": who or None, "day": day, "count": len(seqs), "threshold": limits[rule][0],
         "what": f"{len(seqs)} " + limits[rule][1].format(who=who, day=day), "seqs": seqs}
        for (rule, who, day), seqs in sorted(per_day.items(), key=lambda kv: (kv[0][2], kv[0][0], kv[0][1]))
        if len(seqs) >= limits[rule][0]
    ]  # fmt: skip
    anomalies += [
        {"rule": "outside_office_hours", "staff_id": who, "day": None, "count": len(seqs), "threshold": 1,
         "what": f"{len(seqs)} actions by {who} outside office hours", "seqs": seqs}
        for who, seqs in sorted(after_hours.items())
    ]  # fmt: skip
    anomalies += [
        {"rule": "print_guard", "staff_id": a["actor"] if a["staff"] else None, "day": a["at"][:10],
         "count": 1, "threshold": 1, "seqs": [a["seq"]],
         "what": f"the print guard at {a['terminal']} stopped certificate {a['serial']}: {a['finding']}"
                 + (f" (sheet {a['sheet']})" if a["sheet"] else "")}
        for a in guard_alarms
    ]  # fmt: skip
    channels = sorted({c for per in issued.values() for c in per})
    return {
        "month": month,
        "rows": count,
        "issuances": {
            "total": sum(sum(per.values()) for per in issued.values()),
            "by_channel": {c: sum(per[c] for per in issued.values()) for c in channels},
            "kiosk_by_form": dict(sorted(by_form.items())),
            "by_day": {day: dict(sorted(per.items())) for day, per in sorted(issued.items())},
        },
        "failed_logins": {
            "total": sum(len(v) for v in failed.values()),
            "by_staff": {k: len(v) for k, v in sorted(failed.items())},
            "by_day": dict(sorted(failed_days.items())),
            "lockouts": len(locked),
            "seqs": sorted(s for v in failed.values() for s in v),
        },
        "pin_locks": {"total": len(pin_locks), "seqs": pin_locks},
        "print_guard": {"total": len(guard_alarms), "alarms": guard_alarms},
        "mynumber_views": {"by_staff": {k: len(v) for k, v in sorted(views.items())}},
        "outside_office_hours": {"by_staff": {k: len(v) for k, v in sorted(after_hours.items())}},
        "voids": {"total": len(voids), "seqs": voids},
        "refunds": {"total": len(refunds), "yen": refunded_yen, "seqs": refunds},
        "mode_switches": switches,
        "anomalies": anomalies,
    }


def _month_rows(tx: Tx, month: str, start: str, end: str) -> tuple[list[Row], Row | None]:
    return store.rows_written(tx, start, end), store.review_of(tx, month)


async def figures_of(core: ServerCore, month: str) -> dict[str, Any]:
    """The month's review from the audit rows (read in one transaction) and whether it was reviewed."""
    start, end = month_range(month)
    margin = timedelta(days=1)  # rows are stored in UTC; review() keeps exactly the JST month
    rows, done = await core.db.read(
        partial(_month_rows, month=month, start=to_iso(start - margin), end=to_iso(end + margin))
    )
    figures = review([dict(r) for r in rows], month, ReviewRules.from_settings(core.settings))
    figures["reviewed"] = dict(done) if done else None
    return figures


def _record(tx: Tx, key: bytes, actor: Actor, month: str, at: str, comment: str) -> None:
    if store.review_of(tx, month) is not None:
        raise ApiError(409, "already_reviewed", f"{month} was reviewed already")
    store.insert_review(tx, month, actor.actor_id, at, comment)
    append_sync(tx, key, actor, "audit_reviewed", "ok", None, month=month)


async def record_review(core: ServerCore, actor: Actor, month: str, comment: str) -> dict[str, Any]:
    """An auditor's "reviewed", with a comment (a month is reviewed once; owns ``audit_reviews``)."""
    month_range(month)
    at = utc_now_iso()
    key = core.secrets.audit_chain_key
    await core.db.write(lambda tx: _record(tx, key, actor, month, at, comment))
    return {"month": month, "reviewed_by": actor.actor_id, "reviewed_at": at, "comment": comment}
