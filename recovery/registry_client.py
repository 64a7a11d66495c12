"""The server's client of the main registry: change feed, record versions, health.

Every failure the link must survive (refused, timeout, 5xx, a body that is not what the protocol says)
becomes :class:`RegistryUnavailable`; a sequence the follower cannot continue (another epoch, a seq ahead
of the registry's) becomes :class:`FeedBroken`, which calls for a full resync (both in ``recovery.feed_page``,
with the page's decoding).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import ssl
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Final

import orjson

from recovery.feed_page import (
    FeedPage,
    RegistryUnavailable,
    checker_start,
    decode_json,
    feed_page,
    feed_problem,
)
from wire.http_client import AsyncHttpClient
from wire.linkage import ROWS

# A page this large (a catch-up's 10,000 changes) has its records checked in a second process while this
# one applies the page before: the checks are most of a page's CPU, and a catch-up of an hour's changes
# must not wait for them on one core. A page is decoded for use only once its check passed.
CHECK_ASIDE_BYTES: Final = 256 * 1024


class RegistryClient(AsyncHttpClient):
    def __init__(self, base_url: str, timeout_s: float, context: ssl.SSLContext | None = None) -> None:
        super().__init__(base_url, context, timeout_s, json_serialize=lambda o: orjson.dumps(o).decode())
        self._checker: ProcessPoolExecutor | None = None

    async def close(self) -> None:
        await super().close()
        self._end_checker()

    def unreachable(self, path: str, exc: BaseException) -> Exception:
        return RegistryUnavailable(f"{path}: {type(exc).__name__}: {exc}".strip(": "))

    async def _fetch(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        status, raw, _ = await self.request(method, path, body)
        if status >= 500:
            raise RegistryUnavailable(f"{path}: HTTP {status}")
        return status, raw

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, raw = await self._fetch(method, path, body)
        return status, decode_json(path, status, raw)

    async def health(self) -> dict[str, Any]:
        status, body = await self._call("GET", "/health")
        if status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
            raise RegistryUnavailable(f"/health: HTTP {status}")
        return body

    async def feed(self, after: int, limit: int, epoch: str | None) -> FeedPage:
        """The page after ``after``, checked and decoded (``RegistryUnavailable`` for a malformed one). A page
        is up to 10,000 records: a large one is checked in the checker process, then decoded in a thread,
        neither on the loop kiosks use; the checker ends when pages are small again (the catch-up is over)."""
        query = f"/feed?after={after}&limit={limit}&encoding={ROWS}" + (f"&epoch={epoch}" if epoch else "")
        status, raw = await self._fetch("GET", query)
        if status != 200 or len(raw) < CHECK_ASIDE_BYTES:
            self._end_checker()
            return await asyncio.to_thread(feed_page, after, epoch, status, raw)
        if self._checker is None:
            self._checker = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=checker_start
            )
        try:
            problem = await asyncio.get_running_loop().run_in_executor(self._checker, feed_problem, raw)
        except BrokenProcessPool:  # the checker died: check here
            self._checker = None
            return await asyncio.to_thread(feed_page, after, epoch, status, raw)
        if problem:
            raise RegistryUnavailable(f"/feed: malformed answer ({problem})")
        return await asyncio.to_thread(feed_page, after, epoch, status, raw, False)

    def _end_checker(self) -> None:
        if self._checker is not None:
            self._checker.shutdown(wait=False, cancel_futures=True)
            self._checker = None

    async def versions(self, keys: list[tuple[str, str]]) -> tuple[int, dict[str, int | None]]:
        """(the registry's last seq, {"type/key": version or None})."""
        status, body = await self._call("POST", "/versions", {"keys": [list(k) for k in keys]})
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("versions"), dict):
            raise RegistryUnavailable(f"/versions: HTTP {status}")
        versions = body["versions"]
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in versions.values()):
            raise RegistryUnavailable("/versions: malformed answer (versions are not integers)")
        return int(body.get("seq", 0)), {str(k): v for k, v in versions.items()}
