"""The feed's quick check of a row (its value types looked up among combinations seen to pass, then only
the fields with value rules) says exactly what the field-by-field rules say, for good and broken rows."""

from __future__ import annotations

import random
from typing import Any

import pytest

from registry_sim.generator import generate_city
from wire import linkage
from wire.linkage import ROW_FIELDS, row_problem


def good_rows() -> dict[str, list[list[Any]]]:
    rows: dict[str, list[list[Any]]] = {}
    for record in generate_city(60, 1, 2026):
        rows.setdefault(record["t"], []).append([record[name] for name in ROW_FIELDS[record["t"]]])
    return rows


def with_value(rtype: str, row: list[Any], field: str, value: Any) -> list[Any]:
    changed = list(row)
    changed[ROW_FIELDS[rtype].index(field)] = value
    return changed


BROKEN = [
    ("resident", "version", 0, "field version must be 1 or more, not 0"),
    ("resident", "version", True, "field version must be an integer"),
    ("resident", "in_transition", True, "field in_transition must be an integer"),
    ("resident", "in_transition", 2, "field in_transition must be 0 or 1, not 2"),
    ("resident", "atena_no", None, "field atena_no is null"),
    ("resident", "atena_no", "12345", "field atena_no must be 10 digits"),
    ("resident", "atena_no", "１２３４５６７８９０", "field atena_no must be 10 digits"),
    ("resident", "kojin_bango", "123456789012", "is not a 個人番号"),
    ("resident", "kojin_bango", "１２３４５６７８９０１８", "is not a 個人番号"),
    ("resident", "sex", "X", "field sex must be one of M, F, not 'X'"),
    ("resident", "birth_date", "2026-02-30", "field birth_date must be a date"),
    ("resident", "name", "", "field name is empty"),
    ("resident", "name", 7, "field name must be text"),
    ("resident", "version", 1.0, "field version must be an integer"),
    ("seal", "status", "lost", "field status must be one of active, abolished"),
    ("household", "head_atena_no", "x" * 10, "field head_atena_no must be 10 digits"),
    ("tax", "salary_income", -1, "field salary_income must be 0 or more"),
]


@pytest.mark.parametrize(("rtype", "field", "value", "message"), BROKEN)
def test_a_broken_row_is_named_alike_when_its_value_types_were_seen_to_pass(
    rtype: str, field: str, value: Any, message: str
) -> None:
    good = good_rows()[rtype][0]
    assert row_problem(rtype, good) is None  # its value types are now known to pass
    broken = with_value(rtype, good, field, value)
    said = row_problem(rtype, broken)
    assert said is not None and message in said
    assert said == linkage._row_problem_by_field(rtype, broken)
    assert row_problem(rtype, good) is None


def test_a_row_of_the_wrong_length_is_refused() -> None:
    good = good_rows()["seal"][0]
    assert row_problem("seal", good[:-1]) == "seal record has 5 values, not the 6 fields of its type"


def test_random_damage_is_judged_as_field_by_field() -> None:
    rng = random.Random(29)
    rows = good_rows()
    odd_values: list[Any] = [None, "", 0, 1, -1, 2, True, 1.5, "x", "0123456789", "2026-01-01", [], {}]
    judged = refused = 0
    for _ in range(3000):
        rtype = rng.choice(sorted(rows))
        row = list(rng.choice(rows[rtype]))
        for _ in range(rng.randint(0, 3)):
            row[rng.randrange(len(row))] = rng.choice([*odd_values, *rng.choice(rows[rtype])])
        said = row_problem(rtype, row)
        assert said == linkage._row_problem_by_field(rtype, row), (rtype, row)
        judged += 1
        refused += said is not None
    assert 0 < refused < judged  # both outcomes were tried


def test_the_value_types_kept_as_passing_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(linkage._PASSING_TYPES, "resident", set())
    good = good_rows()["resident"][0]
    nullable = [
        i
        for i, (_, _, not_null, _) in enumerate(linkage._CHECKS["resident"])
        if not not_null and good[i] is not None
    ]
    assert len(nullable) >= 10
    for n in range(2**10):
        row = list(good)
        for bit, i in enumerate(nullable[:10]):
            if n >> bit & 1:
                row[i] = None
        row_problem("resident", row)
    assert len(linkage._PASSING_TYPES["resident"]) == linkage._PASSING_TYPES_KEPT
