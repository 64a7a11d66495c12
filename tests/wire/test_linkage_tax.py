"""konbini-linkage/2 tax records: the instalments' rules, and an import file's bad tax line named by number."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest

from konbini_demo.people import tax_record
from registry_sim.generator import generate_city
from registry_sim.linkage_file import LinkageFileError, checked_records
from wire.linkage import FORMAT, parse_instalments, record_problem, tax_due


def tax(**over: Any) -> dict[str, Any]:
    return {"t": "tax", **tax_record(**over)}


def test_the_demo_record_follows_the_format() -> None:
    assert FORMAT == "konbini-linkage/2" and record_problem(tax(), "tax") is None
    assert sum(i[2] for i in parse_instalments(tax()["instalments"])) == tax_due(tax()) == 223_000


@pytest.mark.parametrize(
    ("instalments", "collection", "problem"),
    [
        ('[[1,"2026-06-30",223000,223000]]', "special", "do not match collection"),
        ("[[0,null,223000,null]]", "ordinary", "do not match collection"),
        ('[[1,"2026-06-30",1000,1000]]', "ordinary", "add up to 1000"),
        ('[[1,"2026-06-31",223000,0]]', "ordinary", "due must be a date"),
        ("[[1,null,223000,0]]", "ordinary", "due must be a date"),
        ('[[1,"2026-06-30",223000,223001]]', "ordinary", "paid at most amount"),
        ('[[1,"2026-06-30",223000,null]]', "ordinary", "paid is null for period 0"),
        ('[[1,"2026-06-30",200000,0],[1,"2026-08-31",23000,0]]', "ordinary", "appears twice"),
        ('{"1": 5}', "ordinary", "not a JSON array"),
        ('[[1,"2026-06-30",223000]]', "ordinary", "not [period, due, amount, paid]"),
    ],
)
def test_bad_instalments_are_named(instalments: str, collection: str, problem: str) -> None:
    found = record_problem(tax(instalments=instalments, collection=collection), "tax")
    assert found is not None and problem in found, found


def test_amounts_and_counts_are_never_negative_and_collection_is_an_enumeration() -> None:
    assert "must be 0 or more" in str(record_problem(tax(dependants_young=-1), "tax"))
    assert "must be one of ordinary, special, both" in str(record_problem(tax(collection="employer"), "tax"))
    assert record_problem(tax(collection=None, instalments="[]", **dict.fromkeys(
        ("municipal_income_levy", "municipal_per_capita", "prefectural_income_levy", "prefectural_per_capita",
         "forest_env_tax"), 0)), "tax") is None  # 非課税: nothing due  # fmt: skip


def test_an_import_file_names_the_line_of_a_bad_tax_record() -> None:
    records = list(generate_city(3, 1, 2026))
    index = next(i for i, r in enumerate(records) if r["t"] == "tax" and r["instalments"] != "[]")
    items = json.loads(records[index]["instalments"])
    items[0][2] += 1
    records[index] = {**records[index], "instalments": json.dumps(items)}
    with pytest.raises(LinkageFileError) as caught:
        list(checked_records(orjson.dumps(r) for r in records))
    [(line, message)] = caught.value.problems
    assert line == index + 1 and "instalments add up to" in message
