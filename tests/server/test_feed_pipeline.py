"""Catch-up: the next feed page is fetched while this one's records are still being checked; a page its
check refuses is not applied, and the page fetched after it is dropped."""

from __future__ import annotations

import asyncio

import pytest

from recovery.feed_apply import read_checkpoint
from recovery.link import RegistryLink
from recovery.registry_client import Change, FeedPage, RegistryUnavailable
from tests.server.conftest import Env


async def test_a_page_its_check_refuses_is_not_applied_and_the_next_is_dropped(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    link = RegistryLink(env.core)
    before = await read_checkpoint(env.core.db)
    asked: list[int] = []
    next_asked = asyncio.Event()

    async def refuse_once_the_next_is_asked() -> None:
        await next_asked.wait()
        raise RegistryUnavailable("/feed: malformed answer (change 7: version)")

    async def feed_in_check(
        after: int, limit: int, epoch: str | None
    ) -> tuple[FeedPage, asyncio.Future[None]]:
        asked.append(after)
        changes = [
            Change(s, "remove", "seal", f"{s:010d}", 1, "", None) for s in range(after + 1, after + 11)
        ]
        if after != before.seq:  # the page after the one refused
            next_asked.set()
            passed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            passed.set_result(None)
            return FeedPage("e", changes, after + 100), passed
        return FeedPage("e", changes, after + 100), asyncio.ensure_future(refuse_once_the_next_is_asked())

    monkeypatch.setattr(link.client, "feed_in_check", feed_in_check)
    try:
        with pytest.raises(RegistryUnavailable, match="change 7"):
            await link.poll_once()
        assert asked == [before.seq, before.seq + 10]  # the next page was asked for during the check
        assert link._prefetch is None  # and dropped with the refused one
        assert await read_checkpoint(env.core.db) == before  # nothing of the refused page applied
    finally:
        await link.client.close()
