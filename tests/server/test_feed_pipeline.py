"""Catch-up: the next feed page is fetched while this one is applied; a page its check refuses is not
applied, and no page after it is asked for."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from recovery.feed_apply import read_checkpoint
from recovery.feed_page import Change, FeedPage, RegistryUnavailable
from recovery.link import LINK, RegistryLink
from tests.server.conftest import Env
from tests.server.test_cluster import taken


def removals(after: int) -> FeedPage:
    changes = [Change(s, "remove", "seal", f"{s:010d}", 1, "", None) for s in range(after + 1, after + 11)]
    return FeedPage("e", changes, after + 100)


@pytest.fixture
async def link(env: Env) -> AsyncIterator[RegistryLink]:
    """A link of the test's own, holding the registry lease (the server's link lets go of it)."""
    await env.client.app[LINK].stop()
    link = RegistryLink(env.core)
    assert await taken(link.lease)
    try:
        yield link
    finally:
        link._drop_prefetch()
        await link.lease.release()
        await link.client.close()


def feed_asked(
    link: RegistryLink, monkeypatch: pytest.MonkeyPatch, page: Callable[[int], FeedPage]
) -> list[int]:
    """The link's feed replaced by ``page(after)`` (which may raise); the positions asked, in order."""
    asked: list[int] = []

    async def feed(after: int, limit: int, epoch: str | None) -> FeedPage:
        asked.append(after)
        await asyncio.sleep(0)
        return page(after)

    monkeypatch.setattr(link.client, "feed", feed)
    return asked


async def test_the_next_page_is_fetched_while_this_one_is_applied(
    env: Env, link: RegistryLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await read_checkpoint(env.core.db)
    asked = feed_asked(link, monkeypatch, removals)
    assert await link.poll_once()  # more are waiting
    assert asked == [before.seq, before.seq + 10]
    assert link._prefetch is not None and link._prefetch[0] == before.seq + 10
    assert (await read_checkpoint(env.core.db)).seq == before.seq + 10
    assert await link.poll_once()  # the page fetched ahead is the one used
    assert asked == [before.seq, before.seq + 10, before.seq + 20]
    assert (await read_checkpoint(env.core.db)).seq == before.seq + 20


def refused(after: int) -> FeedPage:
    raise RegistryUnavailable("/feed: malformed answer (change 7: version)")


async def test_a_page_its_check_refuses_is_not_applied_and_none_after_it_is_asked(
    env: Env, link: RegistryLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = await read_checkpoint(env.core.db)
    asked = feed_asked(link, monkeypatch, refused)
    with pytest.raises(RegistryUnavailable, match="change 7"):
        await link.poll_once()
    assert asked == [before.seq] and link._prefetch is None
    assert await read_checkpoint(env.core.db) == before  # nothing of the refused page applied
