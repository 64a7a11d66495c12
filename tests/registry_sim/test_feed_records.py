"""The change feed obeys the linkage format's value rules as an import file does: a page with one bad record
is refused whole (the breaker's garbage path), so nothing of it reaches the replica."""

from __future__ import annotations

import orjson
import pytest

from recovery.feed_page import RegistryUnavailable, feed_page
from registry_sim.generator import generate_city


def page(record: dict[str, object]) -> bytes:
    change = {"seq": 1, "op": "upsert", "t": record["t"], "key": "0000000001", "version": 2, "record": record}
    return orjson.dumps({"epoch": "e1", "changes": [change], "last_seq": 1})


def test_a_valid_record_passes_and_a_bad_one_refuses_the_page() -> None:
    resident = next(r for r in generate_city(3, 1, 2026) if r["t"] == "resident")
    assert len(feed_page(0, None, 200, page(resident)).changes) == 1
    with pytest.raises(RegistryUnavailable, match="sex must be one of M, F"):
        feed_page(0, None, 200, page({**resident, "sex": "male"}))
    with pytest.raises(RegistryUnavailable, match="birth_date must be a date"):
        feed_page(0, None, 200, page({**resident, "birth_date": "1995/07/01"}))
