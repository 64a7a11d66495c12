"""The change generator's events: what happens in a city, drawn at random, written as record changes.

``CityEvents.run(batch, due)`` draws events (kinds and weights: ``KINDS``) until at least ``due`` record
changes were written through the ``changelog.Batch``; each event runs in a savepoint, so it is written whole
or not at all, and its references are checked. One event can change several records (a household's move
changes the household and every member). Dates written are today's date in Japan. 個人番号 of newborns and
newcomers carry the legal check digit and are otherwise random (a clash with an existing one is possible,
about once in 150,000 births in a city of 600,000).

The demo household (世帯 ``0000000001``: its household, people, seals and tax records) is never touched.
Not modelled: 続柄 of the other members when a householder dies (only the new head becomes 世帯主), marriages,
name changes, residence-card renewals.
"""

from __future__ import annotations

import random
from collections import Counter, deque
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Final

from registry_sim import names, places
from registry_sim.changelog import Batch, ChangeError
from registry_sim.generator import (
    _NAT_BY_NAME,
    _NATIONALITIES,
    _STATUS_PICKERS,
    DEMO_ATENA_NO,
    DEMO_CHILD_ATENA_NO,
    DEMO_HOUSEHOLD_NO,
    DEMO_SPOUSE_ATENA_NO,
    _City,
    _Member,
)
from registry_sim.identifiers import juminhyo_check_digit
from registry_sim.taxes import pay, reassessed, unpaid_amount
from wire.linkage import RESIDENT_FIELDS, kojin_bango_check_digit

Record = dict[str, Any]

# Event kind -> relative weight.
KINDS: Final[dict[str, int]] = {
    "move": 10,  # 転居: a household moves within the city
    "household_split": 3,  # 世帯分離: an adult member sets up a household of their own
    "household_join": 2,  # 世帯合併: someone living alone joins another household; theirs is removed
    "move_in": 3,  # 転入: one or two people arrive from elsewhere
    "birth": 5,  # 出生
    "death": 6,  # 死亡: removed (died); seals abolished; a new householder if needed
    "moveout_filed": 5,  # 転出届: 転出予定 date and address set
    "moveout": 5,  # 転出: those who filed are removed (moved_out); seals abolished
    "seal_registered": 6,  # 印鑑登録 (改印: the old seal is abolished first)
    "seal_abolished": 4,  # 印鑑登録廃止
    "tax_reassessed": 8,  # 更正 or late 申告
    "tax_paid": 8,  # 納付
    "transition_set": 4,  # 異動中 set
    "transition_cleared": 4,  # 異動中 cleared
}
_LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DEMO_PEOPLE: Final = frozenset({DEMO_ATENA_NO, DEMO_SPOUSE_ATENA_NO, DEMO_CHILD_ATENA_NO})
_SAMPLE_TRIES = 12


def age_on(birth_iso: str, today: date) -> int:
    b = date.fromisoformat(birth_iso)
    return today.year - b.year - ((today.month, today.day) < (b.month, b.day))


def _protected(r: Record) -> bool:
    """Records of the demo household, which the generator leaves alone (the demo and tests rely on them)."""
    owner = r.get("owner_atena_no") or r.get("atena_no")
    return r.get("household_no") == DEMO_HOUSEHOLD_NO or owner in _DEMO_PEOPLE


def _active(r: Record) -> bool:
    return bool(r["status"] == "resident")


def _free(r: Record) -> bool:
    """Resident, no move-out filed, not 異動中: free for a new event."""
    return _active(r) and not r["moveout_planned_date"] and not r["in_transition"]


class CityEvents:
    """Draws events with one random stream; remembers filed move-outs and 異動中 flags it set, to undo them."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311  synthetic data or a port to try, not a secret
        self.draw = _City(seed, date.today().year)
        self.kinds = _KindPicker(KINDS)
        self.filed: deque[list[str]] = deque()
        self.flagged: deque[str] = deque()
        self.done: Counter[str] = Counter()
        self.errors = 0
        self.last_error: str | None = None
        self.today = date.today()
        self._events: dict[str, Callable[[Batch], int]] = {
            "move": self.move,
            "household_split": self.household_split,
            "household_join": self.household_join,
            "move_in": self.move_in,
            "birth": self.birth,
            "death": self.death,
            "moveout_filed": self.moveout_filed,
            "moveout": self.moveout,
            "seal_registered": self.seal_registered,
            "seal_abolished": self.seal_abolished,
            "tax_reassessed": self.tax_reassessed,
            "tax_paid": self.tax_paid,
            "transition_set": self.transition_set,
            "transition_cleared": self.transition_cleared,
        }

    def run(self, batch: Batch, due: int, kind: str | None = None) -> int:
        """Draw events (or only ``kind``) until ``due`` changes were written; return how many were."""
        written = attempts = 0
        while written < due and attempts < 4 * due + 20:
            attempts += 1
            name = kind or self.kinds.pick(self.rng)
            self.today = batch.today
            try:
                with batch.savepoint():
                    n = self._events[name](batch)
            except ChangeError as exc:  # a bug in an event: count it, keep going
                self.errors += 1
                self.last_error = f"{name}: {exc}"
                continue
            if n:
                self.done[name] += 1
                written += n
        return written

    # ----- helpers -------------------------------------------------------------------------------------

    def _sample(
        self, b: Batch, rtype: str, ok: Callable[[Record], bool], tries: int = _SAMPLE_TRIES
    ) -> Record | None:
        """A random record of ``rtype`` for which ``ok`` holds (a few tries), never one of the demo household."""
        for _ in range(tries):
            r = b.sample(rtype, self.rng)
            if r is None:
                return None
            if not _protected(r) and ok(r):
                return r
        return None

    def _resident(self, b: Batch, ok: Callable[[Record], bool]) -> Record | None:
        return self._sample(b, "resident", ok)

    def _age(self, r: Record) -> int:
        return age_on(r["birth_date"], self.today)

    def _active_members(self, b: Batch, household_no: str) -> list[Record]:
        return [m for m in b.children("resident", household_no) if _active(m)]

    def _new_address(self, people: int) -> tuple[str, str | None]:
        katagaki = self.draw.katagaki() if self.rng.random() < (0.6 if people == 1 else 0.3) else None
        return self.draw.city_address(), katagaki

    def _abolish_seals(self, b: Batch, atena_no: str) -> int:
        n = 0
        for seal in b.children("seal", atena_no):
            if seal["status"] == "active":
                seal["status"] = "abolished"
                b.upsert(seal)
                n += 1
        return n

    def _remove_person(self, b: Batch, r: Record, reason: str) -> int:
        """Mark ``r`` removed today for ``reason``; abolish their seals; a new householder if they were it."""
        r.update(
            status="removed",
            removal_reason=reason,
            removal_date=self.today.isoformat(),
            moveout_planned_date=None,
            moveout_planned_address=None,
            in_transition=0,
        )
        b.upsert(r)
        return 1 + self._abolish_seals(b, r["atena_no"]) + self._new_head(b, r)

    def _new_head(self, b: Batch, gone: Record) -> int:
        household = b.get("household", gone["household_no"])
        if household is None or household["head_atena_no"] != gone["atena_no"]:
            return 0
        others = [
            m for m in self._active_members(b, household["household_no"]) if m["atena_no"] != gone["atena_no"]
        ]
        if not others:
            return 0
        spouses = [m for m in others if m["relationship"] in ("妻", "夫")]
        head = spouses[0] if spouses else min(others, key=lambda m: m["birth_date"])
        household["head_atena_no"] = head["atena_no"]
        b.upsert(household)
        for m in others:
            m["householder_name"] = head["name"]
            if m is head:
                m["relationship"] = "世帯主"
            b.upsert(m)
        return 1 + len(others)

    def _kojin_bango(self) -> str:
        first11 = str(self.rng.randrange(10**10, 10**11))
        return first11 + str(kojin_bango_check_digit(first11))

    def _juminhyo_code(self) -> str:
        first10 = str(self.rng.randrange(10**9, 10**10))
        return first10 + str(juminhyo_check_digit(first10))

    def _card_no(self) -> str:
        r = self.rng
        return f"{r.choice(_LETTERS)}{r.choice(_LETTERS)}{r.randrange(10**8):08d}{r.choice(_LETTERS)}{r.choice(_LETTERS)}"

    def _person(self, m: _Member, household: Record, head_name: str, **fields: Any) -> Record:
        """A new resident record for a drawn member, in ``household``; ``fields`` override."""
        f = m.foreign
        rec: Record = dict.fromkeys(RESIDENT_FIELDS)
        rec.update(
            t="resident",
            household_no=household["household_no"],
            kojin_bango=self._kojin_bango(),
            juminhyo_code=self._juminhyo_code(),
            kind="japanese" if f is None else "foreign",
            status="resident",
            name=m.name,
            name_kana=m.kana,
            kyuuji=m.kyuuji,
            birth_date=date.fromordinal(m.birth).isoformat(),
            sex=m.sex,
            address=household["address"],
            katagaki=household["katagaki"],
            relationship=m.rel,
            householder_name=head_name,
            in_transition=0,
            support_measure=0,
            version=1,
            updated_at=None,  # the store stamps the time of the change
        )
        if f is not None:
            rec.update(
                name_alpha=f.alpha,
                tsusho=f.tsusho,
                art30_45_class=f.art30,
                nationality=f.nationality,
                zairyu_status=None if f.status == "特別永住者" else f.status,
            )
        rec.update(fields)
        return rec

    # ----- events --------------------------------------------------------------------------------------

    def move(self, b: Batch) -> int:
        r = self._resident(b, _free)
        if r is None:
            return 0
        household = b.get("household", r["household_no"])
        members = self._active_members(b, r["household_no"])
        if household is None or not all(_free(m) for m in members):
            return 0
        old = household["address"]
        household["address"], household["katagaki"] = self._new_address(len(members))
        b.upsert(household)
        for m in members:
            m.update(
                previous_address=old,
                address=household["address"],
                katagaki=household["katagaki"],
                address_set_on=self.today.isoformat(),
            )
            b.upsert(m)
        return 1 + len(members)

    def household_split(self, b: Batch) -> int:
        r = self._resident(b, lambda r: _free(r) and r["relationship"] != "世帯主" and self._age(r) >= 18)
        if r is None:
            return 0
        household = b.get("household", r["household_no"])
        if household is None or household["head_atena_no"] == r["atena_no"]:
            return 0
        same_place = self.rng.random() < 0.4
        address, katagaki = (
            (household["address"], household["katagaki"]) if same_place else self._new_address(1)
        )
        new = {
            "t": "household",
            "household_no": b.next_key("household"),
            "head_atena_no": r["atena_no"],
            "address": address,
            "katagaki": katagaki,
            "version": 1,
        }
        b.upsert(new)
        if not same_place:
            r.update(previous_address=r["address"], address_set_on=self.today.isoformat())
        r.update(
            household_no=new["household_no"],
            relationship="世帯主",
            householder_name=r["name"],
            address=address,
            katagaki=katagaki,
        )
        b.upsert(r)
        return 2

    def household_join(self, b: Batch) -> int:
        r = self._resident(b, lambda r: _free(r) and r["relationship"] == "世帯主")
        if r is None or len(b.children("resident", r["household_no"])) != 1:
            return 0
        head = self._resident(
            b, lambda x: _free(x) and x["relationship"] == "世帯主" and x["household_no"] != r["household_no"]
        )
        target = b.get("household", head["household_no"]) if head else None
        if (
            head is None
            or target is None
            or not all(_free(m) for m in self._active_members(b, head["household_no"]))
        ):
            return 0
        old_household = r["household_no"]
        older = self._age(r) >= self._age(head) + 18
        r.update(
            household_no=target["household_no"],
            relationship=("母" if r["sex"] == "F" else "父") if older else "同居人",
            householder_name=head["name"],
            previous_address=r["address"],
            address=target["address"],
            katagaki=target["katagaki"],
            address_set_on=self.today.isoformat(),
        )
        b.upsert(r)
        b.remove("household", old_household)
        return 2

    def move_in(self, b: Batch) -> int:
        rng, draw = self.rng, self.draw
        address, katagaki = self._new_address(1)
        household = {
            "t": "household",
            "household_no": b.next_key("household"),
            "head_atena_no": "",
            "address": address,
            "katagaki": katagaki,
            "version": 1,
        }
        members: list[_Member] = []
        if rng.random() < 0.12:
            nat: names.Nationality = _NATIONALITIES.pick(rng)
            status: str = _STATUS_PICKERS[nat.name].pick(rng)
            lo, hi = names.STATUS_TERMS[status][1]
            sex = "M" if rng.random() < 0.55 else "F"
            members.append(draw.foreigner("世帯主", sex, max(18, rng.randint(lo, hi)), nat, status))
        else:
            family = draw.surname()
            age = rng.randint(18, 70)
            members.append(draw.japanese("世帯主", "M" if rng.random() < 0.6 else "F", age, family))
            if rng.random() < 0.3 and members[0].sex == "M":
                wife = draw.japanese("妻", "F", max(18, age + rng.randint(-6, 3)), family)
                members.append(wife)
        head = members[0]
        today = self.today.isoformat()
        came_from = "国外" if head.foreign is not None and rng.random() < 0.6 else draw.other_address()
        honseki = draw.honseki() if head.foreign is None else None
        husband = head.name if head.foreign is None else None
        for m in members:
            atena = b.next_key("resident")
            extra: dict[str, Any] = {}
            if m.foreign is not None:
                terms = names.STATUS_TERMS.get(m.foreign.status or "", ((), (0, 0)))[0]
                extra = {
                    "zairyu_card_no": self._card_no(),
                    "zairyu_period": rng.choice(terms) if terms else None,
                    "zairyu_expiry": (self.today + timedelta(days=rng.randint(200, 1800))).isoformat()
                    if terms
                    else None,
                }
            rec = self._person(
                m,
                household,
                head.name,
                atena_no=atena,
                honseki=honseki,
                hittousha=husband,
                became_resident_on=today,
                address_set_on=today,
                previous_address=came_from,
                **extra,
            )
            if m is head:
                household["head_atena_no"] = atena
                b.upsert(household)
            b.upsert(rec)
        return 1 + len(members)

    def birth(self, b: Batch) -> int:
        rng = self.rng
        parent = self._resident(
            b, lambda r: _free(r) and 18 <= self._age(r) <= 45 and (r["sex"] == "F" or rng.random() < 0.3)
        )
        if parent is None:
            return 0
        household = b.get("household", parent["household_no"])
        if household is None or not all(_free(m) for m in self._active_members(b, parent["household_no"])):
            return 0
        rel = "孫" if parent["relationship"] == "子" else "子"
        sex = "M" if rng.random() < 0.51 else "F"
        today = self.today.isoformat()
        if parent["kind"] == "japanese":
            family = parent["name"].split("　")[0]
            family_kana = parent["name_kana"].split("　")[0]
            given, given_kana = self.draw.given(sex, self.today.year)
            child = _Member(
                rel, sex, self.today.toordinal(), f"{family}　{given}", f"{family_kana}　{given_kana}", family
            )
            extra: dict[str, Any] = {"honseki": parent["honseki"], "hittousha": parent["hittousha"]}
        else:
            nat = _NAT_BY_NAME.get(parent["nationality"]) or _NATIONALITIES.pick(rng)
            alpha_family = (parent["name_alpha"] or "").split(" ")[0]
            fam = next((f for f in nat.families if f[0] == alpha_family), None)
            child = self.draw.foreigner(rel, sex, 0, nat, None, fam)
            child.birth = self.today.toordinal()
            extra = {
                "art30_45_class": "出生による経過滞在者",
                "zairyu_status": None,
                "zairyu_expiry": (self.today + timedelta(days=60)).isoformat(),
            }
        rec = self._person(
            child,
            household,
            parent["householder_name"],
            atena_no=b.next_key("resident"),
            became_resident_on=today,
            address_set_on=today,
            **extra,
        )
        b.upsert(rec)
        return 1

    def death(self, b: Batch) -> int:
        candidates = [r for _ in range(6) if (r := self._resident(b, _active)) is not None]
        if not candidates:
            return 0
        r = min(candidates, key=lambda c: c["birth_date"])  # the oldest of a few
        return self._remove_person(b, r, "died")

    def moveout_filed(self, b: Batch) -> int:
        r = self._resident(b, _free)
        if r is None:
            return 0
        members = self._active_members(b, r["household_no"])
        household = b.get("household", r["household_no"])
        if household is None:
            return 0
        if self.rng.random() < 0.7 or household["head_atena_no"] == r["atena_no"]:
            if not all(_free(m) for m in members):
                return 0
            movers = members
        else:
            movers = [r]
        when = (self.today + timedelta(days=self.rng.randint(3, 30))).isoformat()
        to = self.rng.choice(places.MOVEOUT_DESTINATIONS)
        for m in movers:
            m.update(moveout_planned_date=when, moveout_planned_address=to)
            b.upsert(m)
        self.filed.append([m["atena_no"] for m in movers])
        return len(movers)

    def moveout(self, b: Batch) -> int:
        if self.filed:
            movers = [r for a in self.filed.popleft() if (r := b.get("resident", a)) is not None]
        else:
            r = self._resident(b, lambda r: _active(r) and bool(r["moveout_planned_date"]))
            movers = self._active_members(b, r["household_no"]) if r else []
        movers = [m for m in movers if _active(m) and m["moveout_planned_date"]]
        # the householder last, so that a new one is chosen only among those who stay
        movers.sort(key=lambda m: m["relationship"] == "世帯主")
        n = 0
        for m in movers:
            n += self._remove_person(b, b.get("resident", m["atena_no"]) or m, "moved_out")
        return n

    def seal_registered(self, b: Batch) -> int:
        r = self._resident(b, lambda r: _active(r) and self._age(r) >= 15)
        if r is None:
            return 0
        n = 0
        if any(s["status"] == "active" for s in b.children("seal", r["atena_no"])):
            if self.rng.random() < 0.5:
                return 0
            n = self._abolish_seals(b, r["atena_no"])  # 改印
        written = r["tsusho"] or r["name"]
        family = written.split("　")[0].split(" ")[0]
        seal = {
            "t": "seal",
            "seal_no": b.next_key("seal"),
            "owner_atena_no": r["atena_no"],
            "impression": written.replace("　", "") if self.rng.random() < 0.2 else family,
            "registered_on": self.today.isoformat(),
            "status": "active",
            "version": 1,
        }
        b.upsert(seal)
        return n + 1

    def seal_abolished(self, b: Batch) -> int:
        seal = self._sample(b, "seal", lambda s: s["status"] == "active")
        if seal is None:
            return 0
        seal["status"] = "abolished"
        b.upsert(seal)
        return 1

    def tax_reassessed(self, b: Batch) -> int:
        tax = self._sample(b, "tax", lambda t: not t["not_resident_jan1"])
        if tax is None:
            return 0
        b.upsert(reassessed(tax, self.rng))
        return 1

    def tax_paid(self, b: Batch) -> int:
        tax = self._sample(b, "tax", lambda t: unpaid_amount(t) > 0, 5 * _SAMPLE_TRIES)
        if tax is None:
            return 0
        unpaid = unpaid_amount(tax)
        amount = unpaid if self.rng.random() < 0.6 else min(unpaid, (unpaid // 200 + 1) * 100)
        b.upsert(pay(tax, amount))
        return 1

    def transition_set(self, b: Batch) -> int:
        r = self._resident(b, _free)
        if r is None:
            return 0
        r["in_transition"] = 1
        b.upsert(r)
        self.flagged.append(r["atena_no"])
        return 1

    def transition_cleared(self, b: Batch) -> int:
        r = b.get("resident", self.flagged.popleft()) if self.flagged else None
        if r is None:
            r = self._resident(b, lambda x: bool(x["in_transition"]))
        if r is None or not r["in_transition"]:
            return 0
        r["in_transition"] = 0
        b.upsert(r)
        return 1


class _KindPicker:
    """Weighted choice of an event kind."""

    def __init__(self, weights: dict[str, int]) -> None:
        self._kinds = list(weights)
        self._weights = list(weights.values())

    def pick(self, rng: random.Random) -> str:
        return rng.choices(self._kinds, self._weights)[0]
