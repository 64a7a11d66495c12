"""The monthly review: a month of generated activity written through the real audit log, and every figure
and anomaly checked against counts computed here, independently, from what was generated."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from issuance_server.audit.review import ReviewRules, review
from issuance_server.audit.trail import Actor
from tests.server.conftest import Env
from wire.clock import JST

MONTH = "2026-11"
STAFF = ["clerk-a", "clerk-b", "clerk-c"]
RULES = ReviewRules(time(8, 30), time(17, 15), frozenset(range(5)), 3, 6, 4, 2)


@dataclass
class Plan:
    """What was generated, counted as it is generated."""

    issued: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failed: Counter[str] = field(default_factory=Counter)
    failed_days: Counter[str] = field(default_factory=Counter)
    lockouts: int = 0
    pin_locks: int = 0
    views: Counter[str] = field(default_factory=Counter)
    late: Counter[str] = field(default_factory=Counter)
    voids: int = 0
    refunds: int = 0
    refunded_yen: int = 0
    switches: int = 0
    guard_alarms: list[tuple[str, str, str]] = field(default_factory=list)  # (JST day, serial, finding)
    per_day: Counter[tuple[str, str, str]] = field(default_factory=Counter)


def office(moment: datetime) -> bool:
    return moment.weekday() < 5 and time(8, 30) <= moment.time() < time(17, 15)


async def generate(env: Env, monkeypatch: pytest.MonkeyPatch) -> Plan:
    now = {"at": ""}
    monkeypatch.setattr("issuance_server.audit.trail.utc_now_iso", lambda: now["at"])
    rng, plan = random.Random(20261130), Plan()

    async def write(moment: datetime, actor: Actor, action: str, result: str, **details: Any) -> None:
        now["at"] = moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        await env.core.audit.append(actor, action, result, None, **details)
        if actor.kind == "staff" and not office(moment) and moment.month == 11:
            plan.late[actor.actor_id] += 1

    kiosk, system, ops = (
        Actor("kiosk", "kiosk-1", "k1"),
        Actor("system", "srv", "server"),
        Actor("ops", "ops", "x"),
    )
    outside = [datetime(2026, 10, 31, 23, 30, tzinfo=JST), datetime(2026, 12, 1, 0, 10, tzinfo=JST)]
    for moment in outside:  # the months around: never counted
        await write(moment, kiosk, "issue", "ok", channel="kiosk")
        await write(moment, Actor("staff", "clerk-a", "d"), "staff_login", "denied")
    for day in range(1, 31):
        for _ in range(rng.randint(4, 14)):
            moment = datetime(2026, 11, day, tzinfo=JST) + timedelta(minutes=rng.randrange(24 * 60))
            date_key = moment.date().isoformat()
            who = rng.choice(STAFF)
            staff = Actor("staff", who, "desk-1")
            kind = rng.choices(
                [
                    "kiosk",
                    "counter",
                    "failed",
                    "lock",
                    "pin",
                    "view",
                    "search",
                    "void",
                    "voided_print",
                    "guard",
                    "mode",
                    "ok",
                ],
                weights=[30, 6, 8, 1, 2, 5, 8, 2, 2, 1, 1, 10],
            )[0]
            if kind in ("kiosk", "counter"):
                await write(moment, kiosk if kind == "kiosk" else staff, "issue", "ok", channel=kind)
                plan.issued[date_key][kind] += 1
            elif kind in ("failed", "lock"):
                result = (
                    "locked"
                    if kind == "lock"
                    else rng.choice(["denied", "denied_second_factor", "refused_locked"])
                )
                await write(moment, staff, "staff_login", result)
                plan.failed[who] += 1
                plan.failed_days[date_key] += 1
                plan.per_day[("failed_logins", who, date_key)] += 1
                plan.lockouts += kind == "lock"
            elif kind == "pin":
                await write(moment, kiosk, "authenticate", "registration_locked", locked_now=True)
                plan.pin_locks += 1
            elif kind == "view":
                await write(moment, staff, "mynumber_view", "ok", reason="本人確認")
                plan.views[who] += 1
                plan.per_day[("mynumber_views", who, date_key)] += 1
            elif kind == "search":
                await write(moment, staff, "resident_search", "ok", by=["kana"], found=[])
                plan.per_day[("searches", who, date_key)] += 1
            elif kind in ("void", "voided_print", "guard"):
                yen = rng.choice([200, 300])
                if kind == "void":
                    await write(moment, system, "void_unprinted", "voided", refund_yen=yen)
                elif kind == "guard":
                    serial, finding = (
                        f"20261130-{len(plan.guard_alarms):06d}",
                        rng.choice(["wrong_serial", "sheets_not_1_to_n"]),
                    )
                    await write(moment, kiosk, "print_report", "voided", refund_yen=yen, guard=finding)
                    await write(
                        moment, kiosk, "print_guard", "alarm", serial=serial, finding=finding, sheet=2
                    )
                    plan.guard_alarms.append((date_key, serial, finding))
                else:
                    await write(moment, kiosk, "print_report", "voided", refund_yen=yen)
                plan.voids += 1
                plan.refunds += 1
                plan.refunded_yen += yen
                plan.per_day[("voids", "", date_key)] += 1
            elif kind == "mode":
                await write(
                    moment,
                    ops,
                    "mode_switch",
                    "ok",
                    previous="normal",
                    mode="recovery",
                    manual=True,
                    reason="t",
                )
                plan.switches += 1
            else:
                await write(moment, staff, "staff_login", "ok", second_factor="totp")
    return plan


async def test_every_figure_of_the_month_matches_the_generated_activity(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan = await generate(env, monkeypatch)
    rows = await env.core.db.fetchall("SELECT * FROM audit_log ORDER BY seq")
    figures = review([dict(r) for r in rows], MONTH, RULES)
    by_channel = Counter[str]()
    for per in plan.issued.values():
        by_channel.update(per)
    assert figures["issuances"]["total"] == sum(by_channel.values())
    assert figures["issuances"]["by_channel"] == dict(by_channel)
    assert figures["issuances"]["by_day"] == {
        d: dict(sorted(c.items())) for d, c in sorted(plan.issued.items())
    }
    assert figures["failed_logins"]["by_staff"] == dict(plan.failed)
    assert figures["failed_logins"]["total"] == sum(plan.failed.values())
    assert figures["failed_logins"]["by_day"] == dict(plan.failed_days)
    assert figures["failed_logins"]["lockouts"] == plan.lockouts
    assert figures["pin_locks"]["total"] == plan.pin_locks
    assert figures["mynumber_views"]["by_staff"] == dict(plan.views)
    assert figures["outside_office_hours"]["by_staff"] == dict(plan.late)
    assert (figures["voids"]["total"], figures["refunds"]["total"]) == (plan.voids, plan.refunds)
    assert figures["refunds"]["yen"] == plan.refunded_yen
    assert len(figures["mode_switches"]) == plan.switches
    limits = {"failed_logins": 3, "searches": 6, "mynumber_views": 4, "voids": 2}
    expected: dict[tuple[str, str | None, str | None], int] = {
        (r, w or None, d): n for (r, w, d), n in plan.per_day.items() if n >= limits[r]
    }
    expected |= {("outside_office_hours", w, None): n for w, n in plan.late.items()}
    found = {
        (a["rule"], a["staff_id"], a["day"]): a["count"]
        for a in figures["anomalies"]
        if a["rule"] != "print_guard"
    }
    assert found == expected
    alarms = [a for a in figures["anomalies"] if a["rule"] == "print_guard"]
    assert figures["print_guard"]["total"] == len(alarms) == len(plan.guard_alarms) > 0
    for alarm, (day, serial, finding) in zip(
        alarms, sorted(plan.guard_alarms, key=lambda g: g[1]), strict=True
    ):
        assert (
            alarm["day"] == day
            and alarm["what"] == f"the print guard at k1 stopped certificate {serial}: {finding} (sheet 2)"
        )
    assert expected, "the generated month should hold some anomalies"
    by_seq = {r["seq"]: r for r in rows}
    for anomaly in figures["anomalies"]:  # the rows behind each anomaly are real rows of that rule
        assert len(anomaly["seqs"]) == anomaly["count"]
        assert all(by_seq[s]["actor_kind"] in ("staff", "system", "kiosk") for s in anomaly["seqs"])


def test_a_month_must_be_a_month() -> None:
    for bad in ("2026-13", "2026-1", "november", "2026-11-01"):
        with pytest.raises(ValueError, match="YYYY-MM"):
            review([], bad, RULES)
