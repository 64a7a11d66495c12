"""Issue 15: feed pages in the rows encoding; a large page's records are checked in a second process
while this one decodes it, with the same outcome as checking here: a malformed record refuses the page."""

from __future__ import annotations

import orjson
import pytest

from recovery import registry_client
from recovery.registry_client import RegistryClient, RegistryUnavailable, _feed_page
from registry_sim.generator import generate_city
from wire.linkage import FIELDS_BY_TYPE, encode_row


def body(broken_at: int | None = None) -> bytes:
    changes = []
    for seq, record in enumerate(generate_city(40, 1, 2026), 1):
        row = orjson.loads(encode_row(record))
        if seq == broken_at:
            row[1 + list(FIELDS_BY_TYPE[record["t"]]).index("version")] = 0  # versions start at 1
        key = (
            "|".join(str(record[k]) for k in ("owner_atena_no", "fiscal_year"))
            if record["t"] == "tax"
            else ""
        )
        changes.append({"seq": seq, "op": "upsert", "t": record["t"], "key": key or str(row[1]),
                        "version": 1, "at": "", "row": row})  # fmt: skip
    return orjson.dumps({"epoch": "e", "changes": changes, "last_seq": len(changes)})


async def fetch(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> registry_client.FeedPage:
    client = RegistryClient("http://127.0.0.1:1", 1.0)

    async def canned(method: str, path: str, body: object = None) -> tuple[int, bytes]:
        assert "encoding=rows" in path
        return 200, raw

    monkeypatch.setattr(client, "_fetch", canned)
    monkeypatch.setattr(registry_client, "CHECK_ASIDE_BYTES", 1)  # every page: the second process
    try:
        return await client.feed(0, 10_000, "e")
    finally:
        await client.close()


async def test_a_page_checked_aside_is_the_page_checked_here(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = body()
    page = await fetch(monkeypatch, raw)
    assert page.changes and page.changes == _feed_page(0, "e", 200, raw).changes
    first = page.changes[0]
    assert first.values is not None and len(first.values) == len(FIELDS_BY_TYPE[first.rtype])


async def test_a_malformed_record_refuses_the_page_with_the_same_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = body(broken_at=7)
    with pytest.raises(RegistryUnavailable) as here:
        _feed_page(0, "e", 200, raw)
    with pytest.raises(RegistryUnavailable) as aside:
        await fetch(monkeypatch, raw)
    assert (
        str(aside.value) == str(here.value) and "change 7" in str(here.value) and "version" in str(here.value)
    )


async def test_a_page_comes_decoded_before_its_check_which_refuses_a_malformed_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = RegistryClient("http://127.0.0.1:1", 1.0)

    async def canned(method: str, path: str, body: object = None) -> tuple[int, bytes]:
        return 200, raw

    raw = body(broken_at=7)
    monkeypatch.setattr(client, "_fetch", canned)
    monkeypatch.setattr(registry_client, "CHECK_ASIDE_BYTES", 1)
    try:
        page, verdict = await client.feed_in_check(0, 10_000, "e")
        assert len(page.changes) == len(orjson.loads(raw)["changes"])  # decoded, its check still to come
        with pytest.raises(RegistryUnavailable, match="change 7"):
            await verdict  # the link applies nothing of a page before this
    finally:
        await client.close()
