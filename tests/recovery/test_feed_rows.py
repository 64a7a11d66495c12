"""Issue 15: feed pages in the rows encoding; a large page's records are checked in a second process
before this one decodes it, with the same outcome as checking here: a malformed record refuses the page."""

from __future__ import annotations

import asyncio
import time

import orjson
import pytest

from recovery import registry_client
from recovery.feed_page import FeedPage, RegistryUnavailable, feed_page
from recovery.registry_client import RegistryClient
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


async def fetch(monkeypatch: pytest.MonkeyPatch, raw: bytes) -> FeedPage:
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
    assert page.changes and page.changes == feed_page(0, "e", 200, raw).changes
    first = page.changes[0]
    assert first.values is not None and len(first.values) == len(FIELDS_BY_TYPE[first.rtype])


async def test_a_malformed_record_refuses_the_page_with_the_same_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    raw = body(broken_at=7)
    with pytest.raises(RegistryUnavailable) as here:
        feed_page(0, "e", 200, raw)
    with pytest.raises(RegistryUnavailable) as aside:
        await fetch(monkeypatch, raw)
    assert (
        str(aside.value) == str(here.value) and "change 7" in str(here.value) and "version" in str(here.value)
    )


async def test_a_page_checked_aside_is_decoded_only_once_its_check_passed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = RegistryClient("http://127.0.0.1:1", 1.0)
    pages = [body(broken_at=7), body()]
    decoded: list[bool] = []

    async def canned(method: str, path: str, body: object = None) -> tuple[int, bytes]:
        return 200, pages.pop(0)

    def counted(after: int, epoch: str | None, status: int, raw: bytes, check: bool = True) -> FeedPage:
        decoded.append(check)
        return feed_page(after, epoch, status, raw, check)

    monkeypatch.setattr(client, "_fetch", canned)
    monkeypatch.setattr(registry_client, "feed_page", counted)
    monkeypatch.setattr(registry_client, "CHECK_ASIDE_BYTES", 1)
    try:
        with pytest.raises(RegistryUnavailable, match="change 7"):
            await client.feed(0, 10_000, "e")
        assert decoded == []  # nothing of the refused page was made into changes
        page = await client.feed(0, 10_000, "e")
        assert decoded == [False] and page.changes  # checked aside, then decoded without checking again
    finally:
        await client.close()


async def test_the_checker_process_ends_when_pages_are_small_again(monkeypatch: pytest.MonkeyPatch) -> None:
    client = RegistryClient("http://127.0.0.1:1", 1.0)
    raw = body()

    async def canned(method: str, path: str, body: object = None) -> tuple[int, bytes]:
        return 200, raw

    monkeypatch.setattr(client, "_fetch", canned)
    try:
        monkeypatch.setattr(registry_client, "CHECK_ASIDE_BYTES", 1)  # a catch-up's large pages
        await client.feed(0, 10_000, "e")
        checker = client._checker
        assert checker is not None
        worker = next(iter(checker._processes.values()))
        monkeypatch.setattr(registry_client, "CHECK_ASIDE_BYTES", len(raw) + 1)  # caught up: small pages
        page = await client.feed(0, 10_000, "e")
        assert page.changes and client._checker is None
        # The executor's own thread joins (reaps) the worker too: a join here can return in the moment
        # between that thread's waitpid and its noting the exit code, so the exit is waited for by polling.
        # Niced (os.nice(10)), under a loaded test run the worker may get little CPU to end: a minute.
        deadline = time.monotonic() + 60
        while worker.is_alive() and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert not worker.is_alive()
    finally:
        await client.close()
