"""Deterministic synthetic municipality: households, residents, seals and tax records in the linkage format.

``generate_city(residents, seed, fiscal_year)`` yields linkage records (``wire.linkage``), household by
household: the household, its members, their seals, their tax records. The same arguments always give the
same records. The data describe the city as of 1 June of ``fiscal_year`` (after that year's tax assessment).

The first household is a fixed demo household (``DEMO_*``): 𠮷田　髙志 (宛名番号 0000000001), his wife and
their child, at Kagoshima City Hall's address, with active seals and four years of paid tax.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Iterator, Sequence
from datetime import date
from itertools import accumulate
from typing import Any, Final

from registry_sim import names, places
from registry_sim.identifiers import Identifiers
from registry_sim.taxes import IncomeProfile, income_profile, tax_record

DEMO_HOUSEHOLD_NO: Final = "0000000001"
DEMO_ATENA_NO: Final = "0000000001"
DEMO_SPOUSE_ATENA_NO: Final = "0000000002"
DEMO_CHILD_ATENA_NO: Final = "0000000003"
DEMO_NAME: Final = "𠮷田　髙志"
DEMO_NAME_KANA: Final = "よしだ　たかし"
DEMO_ADDRESS: Final = "鹿児島市山下町11番1号"
DEMO_KATAGAKI: Final = "山下レジデンス101号"

# Shares (per household or per person) that make the synthetic city look like a real one.
HOUSEHOLD_SIZE_WEIGHTS: Final = (38.0, 30.0, 16.0, 11.0, 3.5, 1.0, 0.3, 0.12, 0.08)  # sizes 1..9
FOREIGN_HOUSEHOLD_SHARE: Final = 0.026  # plus foreign spouses in Japanese households: ~2% of residents
FOREIGN_SPOUSE_SHARE: Final = 0.03  # of Japanese couples with a husband under 65
GAIJI_SURNAME_SHARE: Final = 0.011  # of Japanese households
GAIJI_GIVEN_NAME_SHARE: Final = 0.0015  # of Japanese persons
KYUUJI_SHARE_WIFE: Final = 0.08
REMOVED_SHARE: Final = 0.03  # of persons who may be removed (not heads of larger households, not children)
MOVEOUT_PLANNED_SHARE: Final = 0.004  # of households
SUPPORT_MEASURE_SHARE: Final = 0.0025  # of households
IN_TRANSITION_SHARE: Final = 0.002  # of persons
SEAL_SHARE: Final = 0.75  # of persons aged 15 or over
SEAL_SHARE_SHORT_STAY: Final = 0.3  # of 技能実習 / 特定技能 / 留学 residents
SEAL_ABOLISHED_SHARE: Final = 0.03
UNPAID_SHARE_LATEST: Final = 0.15  # of 普通徴収 taxpayers: some 期 unpaid
UNPAID_SHARE_EARLIER: Final = 0.05
TAX_YEARS: Final = 4
TAX_MIN_AGE: Final = 16  # on 1 January of the fiscal year
SEAL_MIN_AGE: Final = 15

_SHORT_STAY = frozenset({"技能実習", "特定技能", "留学"})
_KYUUJI_SINCE = date(2019, 11, 5).toordinal()  # 旧氏 may be recorded on the 住民票 since this day
_REGISTRY_ONLINE = date(2002, 8, 5).toordinal()  # records unchanged since then carry this day (住基ネット)


def as_of_date(fiscal_year: int) -> date:
    """The day the generated city describes."""
    return date(fiscal_year, 6, 1)


def generate_city(residents: int, seed: int, fiscal_year: int) -> Iterator[dict[str, Any]]:
    """Yield the linkage records of a city of exactly ``residents`` resident records (removed ones included)."""
    if residents < 3:
        raise ValueError("residents must be at least 3 (the demo household)")
    city = _City(seed, fiscal_year)
    yield from city.demo_household()
    while city.persons < residents:
        yield from city.random_household(residents - city.persons)


class _Weighted:
    """Weighted choice from a fixed sequence with one ``random()`` call."""

    __slots__ = ("_cum", "_items", "_total")

    def __init__(self, items: Sequence[Any], weights: Sequence[float]) -> None:
        self._items = tuple(items)
        self._cum = tuple(accumulate(weights))
        self._total = self._cum[-1]

    def pick(self, rng: random.Random) -> Any:
        return self._items[bisect(self._cum, rng.random() * self._total)]


class _Foreign:
    """The residence-card items of a foreign member."""

    __slots__ = ("alpha", "art30", "card", "expiry", "nationality", "period", "status", "tsusho")

    def __init__(self, nationality: str, alpha: str, status: str | None, tsusho: str | None) -> None:
        self.nationality = nationality
        self.alpha = alpha
        self.status = status
        self.tsusho = tsusho
        self.art30 = "特別永住者" if status == "特別永住者" else "中長期在留者"
        self.card: str | None = None
        self.period: str | None = None
        self.expiry: int | None = None


class _Member:
    """A household member before it becomes a linkage record."""

    __slots__ = (
        "age", "birth", "family", "foreign", "hittousha", "kana", "kyuuji", "name", "rel", "role", "seal_name",
        "sex", "since",
    )  # fmt: skip

    def __init__(self, rel: str, sex: str, birth: int, name: str, kana: str, family: str) -> None:
        self.rel = rel
        self.sex = sex
        self.birth = birth
        self.age = 0
        self.name = name
        self.kana = kana
        self.family = family  # surname as carved on a seal
        self.seal_name = name.replace("　", "")
        self.foreign: _Foreign | None = None
        self.kyuuji: str | None = None
        self.hittousha: str | None = None
        self.role = "other"
        self.since: int | None = None  # moved in from abroad / elsewhere on this day (None: household's)


_SURNAMES = _Weighted(names.SURNAMES, [1.0 / (i + 8) for i in range(len(names.SURNAMES))])
_TOWNS = _Weighted(places.TOWNS, [t[3] for t in places.TOWNS])
_NATIONALITIES = _Weighted([n for n, _ in names.NATIONALITIES], [w for _, w in names.NATIONALITIES])
_STATUS_PICKERS = {
    n.name: _Weighted([s for s, _ in n.statuses], [w for _, w in n.statuses]) for n, _ in names.NATIONALITIES
}
_SIZES = _Weighted(range(1, 10), HOUSEHOLD_SIZE_WEIGHTS)
# Age bands (lowest, highest, weight) of people living alone, of couples without children.
_SINGLE_AGES = _Weighted(
    [(18, 22), (23, 34), (35, 49), (50, 64), (65, 74), (75, 84), (85, 89), (90, 94), (95, 100)],
    [10, 18, 12, 14, 16, 17, 8, 4, 1],
)
_COUPLE_AGES = _Weighted([(24, 40), (41, 64), (65, 79), (80, 92)], [16, 22, 42, 20])
_FAMILY_NATIONALITIES = ("中国", "フィリピン", "韓国", "ネパール", "アメリカ合衆国", "台湾", "ベトナム")
_SPOUSE_NATIONALITIES = _Weighted(["フィリピン", "中国", "韓国", "タイ", "ベトナム"], [35, 25, 15, 15, 10])
_NAT_BY_NAME = {n.name: n for n, _ in names.NATIONALITIES}


class _City:
    """Generator state: one random stream, running counters, the as-of day."""

    def __init__(self, seed: int, fiscal_year: int) -> None:
        self.rng = random.Random(seed)  # noqa: S311  synthetic data or a port to try, not a secret
        self.ids = Identifiers(self.rng)
        self.fiscal_year = fiscal_year
        self.as_of = as_of_date(fiscal_year)
        self.today = self.as_of.toordinal()
        self.persons = 0
        self.households = 0
        self.seals = 0
        self.cards = 0
        self._iso_cache: dict[int, str] = {}
        self._jan1 = [
            (fy, date(fy, 1, 1).toordinal()) for fy in range(fiscal_year - TAX_YEARS + 1, fiscal_year + 1)
        ]
        self._age16_cut = {fy: date(fy - TAX_MIN_AGE, 1, 1).toordinal() for fy, _ in self._jan1}

    # ----- small helpers -------------------------------------------------------------------------------

    def iso(self, ordinal: int) -> str:
        s = self._iso_cache.get(ordinal)
        if s is None:
            s = self._iso_cache[ordinal] = date.fromordinal(ordinal).isoformat()
        return s

    def birth_for_age(self, age: int) -> int:
        return self.today - int((age + self.rng.random() * 0.98) * 365.2425)

    def exact_age(self, birth: int, on: date) -> int:
        b = date.fromordinal(birth)
        return on.year - b.year - ((on.month, on.day) < (b.month, b.day))

    def between(self, lo: int, hi: int) -> int:
        """A day in [lo, hi] (lo when the range is empty)."""
        return lo if hi <= lo else lo + int(self.rng.random() * (hi - lo + 1))

    def next_atena(self) -> tuple[str, int]:
        self.persons += 1
        return f"{self.persons:010d}", self.persons

    def city_address(self) -> str:
        rng = self.rng
        town, chome, style, _ = _TOWNS.pick(rng)
        if style == "banchi":
            ban = 100 + int(rng.random() * 4900)
            eda = int(rng.random() * 12)
            return f"{places.CITY}{town}{ban}番地{eda}" if eda else f"{places.CITY}{town}{ban}番地"
        ban, go = 1 + int(rng.random() * 40), 1 + int(rng.random() * 30)
        if chome:
            return f"{places.CITY}{town}{1 + int(rng.random() * chome)}丁目{ban}番{go}号"
        return f"{places.CITY}{town}{ban}番{go}号"

    def other_address(self) -> str:
        rng = self.rng
        place = places.OTHER_PLACES[int(rng.random() * len(places.OTHER_PLACES))]
        return f"{place}{1 + int(rng.random() * 5)}丁目{1 + int(rng.random() * 40)}番{1 + int(rng.random() * 20)}号"

    def honseki(self) -> str:
        rng = self.rng
        if rng.random() < 0.6:
            town = _TOWNS.pick(rng)[0]
            return f"{places.PREFECTURE}{places.CITY}{town}{1 + int(rng.random() * 3000)}番地"
        place = places.OTHER_PLACES[int(rng.random() * len(places.OTHER_PLACES))]
        return f"{place}{1 + int(rng.random() * 2000)}番地"

    def katagaki(self) -> str:
        rng = self.rng
        stem = places.BUILDING_STEMS[int(rng.random() * len(places.BUILDING_STEMS))]
        kind = places.BUILDING_KINDS[int(rng.random() * len(places.BUILDING_KINDS))]
        return f"{stem}{kind}{1 + int(rng.random() * 8)}{1 + int(rng.random() * 12):02d}号"

    # ----- names ---------------------------------------------------------------------------------------

    def surname(self) -> tuple[str, str]:
        rng = self.rng
        if rng.random() < GAIJI_SURNAME_SHARE:
            return names.GAIJI_SURNAMES[int(rng.random() * len(names.GAIJI_SURNAMES))]
        picked: tuple[str, str] = _SURNAMES.pick(rng)
        return picked

    def given(self, sex: str, birth_year: int) -> tuple[str, str]:
        rng = self.rng
        if rng.random() < GAIJI_GIVEN_NAME_SHARE:
            pool = names.GAIJI_GIVEN_MALE if sex == "M" else names.GAIJI_GIVEN_FEMALE
        else:
            pool = (names.GIVEN_MALE if sex == "M" else names.GIVEN_FEMALE)[names.era_of(birth_year)]
        return pool[int(rng.random() * len(pool))]

    def japanese(self, rel: str, sex: str, age: int, family: tuple[str, str]) -> _Member:
        birth = self.birth_for_age(age)
        g, g_kana = self.given(sex, date.fromordinal(birth).year)
        return _Member(rel, sex, birth, f"{family[0]}　{g}", f"{family[1]}　{g_kana}", family[0])

    def foreigner(
        self,
        rel: str,
        sex: str,
        age: int,
        nat: names.Nationality,
        status: str | None,
        family: tuple[str, str | None, str] | None = None,
    ) -> _Member:
        rng = self.rng
        fam = family or nat.families[int(rng.random() * len(nat.families))]
        pool = nat.given_m if sex == "M" else nat.given_f
        giv = pool[int(rng.random() * len(pool))]
        if nat.middle is not None:
            mid_alpha, mid_kana = nat.middle[0] if sex == "M" else nat.middle[1]
            alpha = f"{fam[0]} {mid_alpha} {giv[0]}"
            kana = f"{fam[2]}　{mid_kana}　{giv[2]}"
        else:
            alpha = f"{fam[0]} {giv[0]}"
            kana = f"{fam[2]}　{giv[2]}"
        written = f"{fam[1]}　{giv[1]}" if nat.kanji and fam[1] and giv[1] else alpha
        tsusho = None
        if (status == "特別永住者" and rng.random() < 0.6) or rng.random() < 0.02:
            t_fam = names.TSUSHO_SURNAMES[int(rng.random() * len(names.TSUSHO_SURNAMES))]
            tsusho = f"{t_fam[0]}　{self.given(sex, self.as_of.year - age)[0]}"
        m = _Member(rel, sex, self.birth_for_age(age), written, kana, fam[1] or fam[2])
        m.foreign = _Foreign(nat.name, alpha, status, tsusho)
        if tsusho:
            m.family = tsusho.split("　")[0]
        m.seal_name = m.family
        return m

    # ----- households ----------------------------------------------------------------------------------

    def single_age(self) -> int:
        lo, hi = _SINGLE_AGES.pick(self.rng)
        return lo + int(self.rng.random() * (hi - lo + 1))

    def children(self, mother_age: int, n: int, family: tuple[str, str], out: list[_Member]) -> None:
        rng = self.rng
        lo, hi = max(0, mother_age - 42), max(0, mother_age - 20)
        for _ in range(n):
            age = lo + int(rng.random() * (hi - lo + 1))
            out.append(self.japanese("子", "M" if rng.random() < 0.51 else "F", age, family))

    def couple(self, head_age: int, family: tuple[str, str], out: list[_Member]) -> int:
        """Append a householder and spouse; return the wife's age (for children)."""
        rng = self.rng
        head_male = rng.random() < 0.93
        spouse_age = min(100, max(18, head_age + (int(rng.random() * 9) - 6 if head_male else 2)))
        head = self.japanese("世帯主", "M" if head_male else "F", head_age, family)
        head.role = "head"
        out.append(head)
        if head_male and head_age < 65 and rng.random() < FOREIGN_SPOUSE_SHARE:
            nat = _NAT_BY_NAME[_SPOUSE_NATIONALITIES.pick(rng)]
            status = "日本人の配偶者等" if rng.random() < 0.6 else "永住者"
            spouse = self.foreigner("妻", "F", spouse_age, nat, status)
            spouse.since = self.today - int(rng.random() * 365 * min(20, max(1, spouse_age - 18)))
        else:
            spouse = self.japanese("妻" if head_male else "夫", "F" if head_male else "M", spouse_age, family)
            if rng.random() < (KYUUJI_SHARE_WIFE if head_male else 0.3):
                spouse.kyuuji = self.surname()[0]
        spouse.role = "spouse"
        out.append(spouse)
        return spouse_age if head_male else head_age

    def japanese_members(self, limit: int) -> list[_Member]:
        rng = self.rng
        size = min(_SIZES.pick(rng), limit)
        family = self.surname()
        out: list[_Member] = []
        if size == 1:
            age = self.single_age()
            female = rng.random() < (0.65 if age >= 65 else 0.45)
            head = self.japanese("世帯主", "F" if female else "M", age, family)
            head.role = "single"
            return [head]
        r = rng.random()
        if size == 2:
            if r < 0.55:
                lo, hi = _COUPLE_AGES.pick(rng)
                self.couple(lo + int(rng.random() * (hi - lo + 1)), family, out)
            elif r < 0.78:
                parent_age = 25 + int(rng.random() * 31)
                female = rng.random() < 0.85
                head = self.japanese("世帯主", "F" if female else "M", parent_age, family)
                head.role = "single"
                out.append(head)
                self.children(parent_age, 1, family, out)
            else:
                head_age = 40 + int(rng.random() * 29)
                head = self.japanese("世帯主", "M" if rng.random() < 0.55 else "F", head_age, family)
                head.role = "single"
                out.append(head)
                parent_age = min(100, head_age + 22 + int(rng.random() * 15))
                mother = rng.random() < 0.8
                out.append(
                    self.japanese("母" if mother else "父", "F" if mother else "M", parent_age, family)
                )
            return out
        if (size >= 5 and r < 0.35) or r < 0.08 or size >= 7:
            head_age = 35 + int(rng.random() * 24)
            mother_age = self.couple(head_age, family, out)
            parents = 2 if size >= 5 and rng.random() < 0.6 else 1
            father_age = min(100, head_age + 25 + int(rng.random() * 11))
            if parents == 2:
                out.append(self.japanese("父", "M", father_age, family))
                out.append(self.japanese("母", "F", min(100, father_age - 2), family))
            else:
                mother = rng.random() < 0.75
                out.append(
                    self.japanese("母" if mother else "父", "F" if mother else "M", father_age, family)
                )
            self.children(mother_age, size - 2 - parents, family, out)
        elif r < 0.88:
            head_age = 30 + int(rng.random() * 35)
            mother_age = self.couple(head_age, family, out)
            lodgers = 1 if rng.random() < 0.02 else 0
            self.children(mother_age, size - 2 - lodgers, family, out)
            if lodgers:
                out.append(
                    self.japanese(
                        "同居人", "M" if rng.random() < 0.5 else "F", self.single_age(), self.surname()
                    )
                )
        else:
            parent_age = 25 + int(rng.random() * 31)
            female = rng.random() < 0.85
            head = self.japanese("世帯主", "F" if female else "M", parent_age, family)
            head.role = "single"
            out.append(head)
            self.children(parent_age, size - 1, family, out)
        return out

    def foreign_members(self, limit: int) -> list[_Member]:
        rng = self.rng
        nat: names.Nationality = _NATIONALITIES.pick(rng)
        status: str = _STATUS_PICKERS[nat.name].pick(rng)
        if limit == 1 or rng.random() < 0.78 or nat.name not in _FAMILY_NATIONALITIES:
            lo, hi = names.STATUS_TERMS[status][1]
            age = lo + int(rng.random() * (hi - lo + 1))
            head = self.foreigner("世帯主", "M" if rng.random() < 0.6 else "F", age, nat, status)
            head.role = "single"
            return [head]
        if status in _SHORT_STAY and status != "留学":
            status = "永住者"
        size = min(limit, 2 + int(rng.random() * 3))
        head_age = 28 + int(rng.random() * (45 if status == "特別永住者" else 25))
        fam = nat.families[int(rng.random() * len(nat.families))]
        head = self.foreigner("世帯主", "M", head_age, nat, status, fam)
        head.role = "head"
        dependant = names.DEPENDANT_STATUS.get(status, "家族滞在")
        wife_age = max(20, head_age - int(rng.random() * 6))
        shares_name = nat.name in ("フィリピン", "アメリカ合衆国")
        wife = self.foreigner("妻", "F", wife_age, nat, dependant, fam if shares_name else None)
        wife.role = "spouse"
        out = [head, wife]
        lo, hi = max(0, wife_age - 40), max(0, wife_age - 20)
        for _ in range(size - 2):
            child_age = lo + int(rng.random() * (hi - lo + 1))
            out.append(
                self.foreigner("子", "M" if rng.random() < 0.51 else "F", child_age, nat, dependant, fam)
            )
        return out

    def random_household(self, limit: int) -> Iterator[dict[str, Any]]:
        members = (
            self.foreign_members(limit)
            if self.rng.random() < FOREIGN_HOUSEHOLD_SHARE
            else self.japanese_members(limit)
        )
        return self.emit(members)

    # ----- records -------------------------------------------------------------------------------------

    def emit(self, members: list[_Member]) -> Iterator[dict[str, Any]]:
        """Turn members into household, resident, seal and tax records (in that order)."""
        rng = self.rng
        today = self.today
        self.households += 1
        household_no = f"{self.households:010d}"
        alone = len(members) == 1
        address = self.city_address()
        katagaki = self.katagaki() if rng.random() < (0.6 if alone else 0.3) else None
        head = members[0]
        foreign_household = head.foreign is not None
        # When the household came to the city (None: its members were born here) and last moved within it.
        if head.foreign is not None and head.foreign.status != "特別永住者":
            stay_years = 3 if head.foreign.status in _SHORT_STAY else 15
            moved_in: int | None = today - 20 - int(rng.random() ** 1.5 * 365 * stay_years)
        elif rng.random() < 0.45:
            moved_in = None
        else:
            moved_in = today - int(rng.random() ** 1.6 * 40 * 365)
        moved_within = today - int(rng.random() ** 1.3 * 25 * 365) if rng.random() < 0.35 else None
        honseki = None if foreign_household else self.honseki()
        moveout = rng.random() < MOVEOUT_PLANNED_SHARE
        support = rng.random() < SUPPORT_MEASURE_SHARE
        moveout_date = moveout_addr = None
        if moveout:
            moveout_date = self.iso(today + 3 + int(rng.random() * 28))
            moveout_addr = places.MOVEOUT_DESTINATIONS[int(rng.random() * len(places.MOVEOUT_DESTINATIONS))]

        for m in members:
            m.age = self.exact_age(m.birth, self.as_of)
        self.assign_hittousha(members)
        removed_count = 0
        residents: list[dict[str, Any]] = []
        infos: list[tuple[_Member, str, int, int | None]] = []
        children_16_22 = under_16 = aged_70 = 0
        for m in members:
            atena, n = self.next_atena()
            age = m.age
            gone: int | None = None
            if m.rel == "子" and 16 <= age <= 22:
                children_16_22 += 1
            under_16 += m.rel == "子" and age < 16
            aged_70 += m.rel in ("父", "母", "祖父", "祖母") and age >= 70
            arrival = m.since if m.since is not None else moved_in
            became = m.birth if arrival is None or arrival < m.birth else arrival
            address_set = became
            previous = None
            if arrival is not None and arrival >= m.birth:
                from_abroad = m.foreign is not None and m.foreign.status != "特別永住者"
                previous = "国外" if from_abroad else self.other_address()
            if moved_within is not None and moved_within > became:
                address_set = moved_within
                previous = self.city_address()
            version = 1 + (address_set > became)
            last = max(address_set, _REGISTRY_ONLINE)
            removal_reason = removal_date = None
            status = "resident"
            removable = (alone or m is not head) and (age >= 15 or alone) and address_set < today - 1
            if removable and rng.random() < REMOVED_SHARE:
                status = "removed"
                removed_count += 1
                old = (age >= 70 and rng.random() < 0.85) or rng.random() < 0.04
                removal_reason = "died" if old else "moved_out"
                gone = self.between(max(address_set + 1, today - 1500), today - 1)
                removal_date = self.iso(gone)
                version += 1
                last = max(last, gone)
            active = status == "resident"
            in_transition = 1 if active and rng.random() < IN_TRANSITION_SHARE else 0
            if in_transition:
                version += 1
                last = max(last, today - int(rng.random() * 3))
            if moveout and active:
                version += 1
                last = max(last, today - int(rng.random() * 14))
            if m.kyuuji is not None:
                version += 1
                last = max(last, self.between(max(_KYUUJI_SINCE, address_set), today))
            f = m.foreign
            if f is not None and f.status is not None and f.status != "特別永住者":
                self.cards += 1
                f.card = self.ids.zairyu_card_no(self.cards)
                periods = names.STATUS_TERMS[f.status][0]
                if periods:
                    f.period = periods[int(rng.random() * len(periods))]
                    f.expiry = today + 20 + int(rng.random() * 1500)
                if age == 0 and today - m.birth <= 60:
                    f.art30, f.status, f.card, f.period = "出生による経過滞在者", None, None, None
                    f.expiry = m.birth + 60
            elif f is not None:
                self.cards += 1
                f.card = self.ids.zairyu_card_no(self.cards)
            updated = (
                f"{self.iso(last)}T{8 + int(rng.random() * 10):02d}:{int(rng.random() * 60):02d}:"
                f"{int(rng.random() * 60):02d}+09:00"
            )
            residents.append(
                {
                    "t": "resident",
                    "atena_no": atena,
                    "household_no": household_no,
                    "kojin_bango": self.ids.kojin_bango(n),
                    "juminhyo_code": self.ids.juminhyo_code(n),
                    "kind": "japanese" if f is None else "foreign",
                    "status": status,
                    "removal_reason": removal_reason,
                    "removal_date": removal_date,
                    "name": m.name,
                    "name_kana": m.kana,
                    "name_alpha": None if f is None else f.alpha,
                    "tsusho": None if f is None else f.tsusho,
                    "kyuuji": m.kyuuji,
                    "birth_date": self.iso(m.birth),
                    "sex": m.sex,
                    "address": address,
                    "katagaki": katagaki,
                    "relationship": m.rel,
                    "householder_name": head.name,
                    "honseki": honseki if f is None else None,
                    "hittousha": m.hittousha if f is None else None,
                    "zairyu_card_no": None if f is None else f.card,
                    "art30_45_class": None if f is None else f.art30,
                    "zairyu_status": None if f is None or f.status == "特別永住者" else f.status,
                    "zairyu_period": None if f is None else f.period,
                    "zairyu_expiry": None if f is None or f.expiry is None else self.iso(f.expiry),
                    "nationality": None if f is None else f.nationality,
                    "became_resident_on": self.iso(became),
                    "address_set_on": self.iso(address_set),
                    "previous_address": previous,
                    "moveout_planned_date": moveout_date if active else None,
                    "moveout_planned_address": moveout_addr if active else None,
                    "in_transition": in_transition,
                    "support_measure": 1 if support and active else 0,
                    "version": version,
                    "updated_at": updated,
                }
            )
            infos.append((m, atena, became, gone))

        yield {
            "t": "household",
            "household_no": household_no,
            "head_atena_no": residents[0]["atena_no"],
            "address": address,
            "katagaki": katagaki,
            "version": 1 + removed_count + (moved_within is not None),
        }
        yield from residents
        for m, atena, became, gone in infos:
            yield from self.seals_of(m, atena, became, gone)
        for m, atena, became, gone in infos:
            family = (under_16, aged_70, int(any(x.role == "spouse" for x in members)))
            yield from self.taxes_of(m, atena, became, gone, children_16_22, family)

    def assign_hittousha(self, members: list[_Member]) -> None:
        """筆頭者: the husband for a couple and their children; the father (invented) for others."""
        rng = self.rng
        head = members[0]
        couple_name = None
        if len(members) > 1 and members[1].role == "spouse":
            husband = head if head.sex == "M" else members[1]
            couple_name = husband.name
        for m in members:
            if m.foreign is not None:
                continue
            if m.rel in ("世帯主", "妻", "夫", "子") and couple_name is not None:
                m.hittousha = couple_name
            elif m.rel in ("父", "母"):
                father = next((p for p in members if p.rel == "父"), None)
                m.hittousha = father.name if father else f"{m.family}　{self.given('M', 1930)[0]}"
            elif m.rel == "子" or (m.age < 30 and rng.random() < 0.7) or rng.random() < 0.35:
                m.hittousha = head.name if m.rel == "子" else f"{m.family}　{self.given('M', 1950)[0]}"
            else:
                m.hittousha = m.name

    def seals_of(self, m: _Member, atena: str, became: int, gone: int | None) -> Iterator[dict[str, Any]]:
        rng = self.rng
        if m.age < SEAL_MIN_AGE:
            return
        share = (
            SEAL_SHARE_SHORT_STAY if m.foreign is not None and m.foreign.status in _SHORT_STAY else SEAL_SHARE
        )
        if rng.random() >= share:
            return
        b = date.fromordinal(m.birth)
        fifteen = date(
            b.year + SEAL_MIN_AGE, b.month, 28 if (b.month, b.day) == (2, 29) else b.day
        ).toordinal()
        start, end = max(became, fifteen), gone if gone is not None else self.today
        if end < start:
            return
        registered = self.between(start, end)
        impression = m.seal_name if rng.random() < 0.2 else m.family
        abolished = gone is not None or rng.random() < SEAL_ABOLISHED_SHARE
        self.seals += 1
        yield {
            "t": "seal",
            "seal_no": f"{self.seals:08d}",
            "owner_atena_no": atena,
            "impression": impression,
            "registered_on": self.iso(registered),
            "status": "abolished" if abolished else "active",
            "version": 2 if abolished else 1,
        }
        if abolished and gone is None and rng.random() < 0.6:
            self.seals += 1
            yield {
                "t": "seal",
                "seal_no": f"{self.seals:08d}",
                "owner_atena_no": atena,
                "impression": m.seal_name,
                "registered_on": self.iso(self.between(registered, self.today)),
                "status": "active",
                "version": 1,
            }

    def taxes_of(
        self,
        m: _Member,
        atena: str,
        became: int,
        gone: int | None,
        dependants: int,
        family: tuple[int, int, int] = (0, 0, 0),
    ) -> Iterator[dict[str, Any]]:
        rng = self.rng
        if m.birth > self._age16_cut[self.fiscal_year]:
            return
        profile = income_profile(rng, m.age, m.sex, m.role, dependants, family)
        for fy, jan1 in self._jan1:
            if m.birth > self._age16_cut[fy] or (gone is not None and gone <= jan1):
                continue
            not_resident = became > jan1
            if not_resident and became > jan1 + 365:
                continue  # came after that year: the city holds nothing for it
            latest = fy == self.fiscal_year
            unpaid = rng.random() < (UNPAID_SHARE_LATEST if latest else UNPAID_SHARE_EARLIER)
            scale = 1.0 - 0.015 * (self.fiscal_year - fy) + (rng.random() - 0.5) * 0.04
            yield tax_record(atena, fy, profile, scale, unpaid, int(rng.random() * 4), not_resident, 1)

    # ----- the demo household --------------------------------------------------------------------------

    def demo_household(self) -> Iterator[dict[str, Any]]:
        """Household 0000000001: 𠮷田　髙志, his wife 美咲 (旧氏 中村) and their child 陽向 (aged 7)."""
        fy = self.fiscal_year
        head = _Member("世帯主", "M", date(fy - 45, 4, 12).toordinal(), DEMO_NAME, DEMO_NAME_KANA, "𠮷田")
        wife = _Member("妻", "F", date(fy - 43, 8, 3).toordinal(), "𠮷田　美咲", "よしだ　みさき", "𠮷田")
        child = _Member("子", "M", date(fy - 7, 5, 5).toordinal(), "𠮷田　陽向", "よしだ　ひなた", "𠮷田")
        wife.kyuuji = "中村"
        moved_within = date(fy - 10, 4, 1).toordinal()
        wife_came = date(fy - 12, 3, 20).toordinal()
        self.households += 1
        yield {
            "t": "household",
            "household_no": DEMO_HOUSEHOLD_NO,
            "head_atena_no": DEMO_ATENA_NO,
            "address": DEMO_ADDRESS,
            "katagaki": DEMO_KATAGAKI,
            "version": 2,
        }
        rows = (
            (head, head.birth, moved_within, "鹿児島市宇宿3丁目12番5号"),
            (wife, wife_came, moved_within, "鹿児島市宇宿3丁目12番5号"),
            (child, child.birth, child.birth, None),
        )
        for m, became, address_set, previous in rows:
            atena, n = self.next_atena()
            m.age = self.exact_age(m.birth, self.as_of)
            yield {
                "t": "resident",
                "atena_no": atena,
                "household_no": DEMO_HOUSEHOLD_NO,
                "kojin_bango": self.ids.kojin_bango(n),
                "juminhyo_code": self.ids.juminhyo_code(n),
                "kind": "japanese",
                "status": "resident",
                "removal_reason": None,
                "removal_date": None,
                "name": m.name,
                "name_kana": m.kana,
                "name_alpha": None,
                "tsusho": None,
                "kyuuji": m.kyuuji,
                "birth_date": self.iso(m.birth),
                "sex": m.sex,
                "address": DEMO_ADDRESS,
                "katagaki": DEMO_KATAGAKI,
                "relationship": m.rel,
                "householder_name": DEMO_NAME,
                "honseki": "鹿児島県鹿児島市山下町11番地",
                "hittousha": DEMO_NAME,
                "zairyu_card_no": None,
                "art30_45_class": None,
                "zairyu_status": None,
                "zairyu_period": None,
                "zairyu_expiry": None,
                "nationality": None,
                "became_resident_on": self.iso(became),
                "address_set_on": self.iso(address_set),
                "previous_address": previous,
                "moveout_planned_date": None,
                "moveout_planned_address": None,
                "in_transition": 0,
                "support_measure": 0,
                "version": 2 if address_set > became else 1,
                "updated_at": f"{self.iso(address_set)}T10:00:00+09:00",
            }
        for atena, impression, registered in (
            (DEMO_ATENA_NO, "𠮷田", date(fy - 10, 4, 15)),
            (DEMO_SPOUSE_ATENA_NO, "𠮷田美咲", date(fy - 10, 4, 15)),
        ):
            self.seals += 1
            yield {
                "t": "seal",
                "seal_no": f"{self.seals:08d}",
                "owner_atena_no": atena,
                "impression": impression,
                "registered_on": registered.isoformat(),
                "status": "active",
                "version": 1,
            }
        for atena, profile in (
            (
                DEMO_ATENA_NO,
                IncomeProfile(
                    salary_revenue=5_200_000,
                    spouse=True,
                    young=1,
                    insurance=(50_000, 15_000, 0, 0, 30_000, 0),
                ),
            ),
            (DEMO_SPOUSE_ATENA_NO, IncomeProfile(salary_revenue=1_000_000)),
        ):
            for year, _ in self._jan1:
                scale = 1.0 - 0.015 * (fy - year)
                yield tax_record(atena, year, profile, scale, False, 0, False, 1)
