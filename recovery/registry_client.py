"""The server's client of the main registry: change feed, record versions, health.

Every failure the link must survive (refused, timeout, 5xx, a body that is not what the protocol says)
becomes :class:`RegistryUnavailable`; a sequence the follower cannot continue (another epoch, a seq ahead
of the registry's) becomes :class:`FeedBroken`, which calls for a full resync.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import ssl
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, Final

import orjson

from issuance_server.process_memory import cycle_collection_paused
from wire.http_client import AsyncHttpClient
from wire.linkage import FIELDS_BY_TYPE, ROWS, record_problem, row_problem


class RegistryUnavailable(Exception):
    """The registry did not answer usefully; counts as a failure for the circuit breaker."""


class FeedBroken(Exception):
    """The follower's position is not valid in the registry's sequence (reset, gap, epoch change)."""


@dataclass(slots=True)
class Change:  # not frozen: tens of thousands are built per second while catching up
    seq: int
    op: str  # upsert | remove
    rtype: str
    key: str
    version: int
    at: str
    values: Sequence[Any] | None  # an upsert's whole record, its type's fields in the format's order


@dataclass(frozen=True)
class FeedPage:
    epoch: str
    changes: list[Change]
    last_seq: int


def _change(raw: Any, check: bool = True) -> Change:
    """One feed change, its record checked by the format's rules (unless ``check`` is false: another
    process checks it): ``"row"`` (the rows encoding, asked for) or ``"record"`` (an object: a registry
    that does not offer rows)."""
    if not isinstance(raw, dict):
        raise ValueError("change is not an object")
    op, rtype = raw["op"], raw["t"]
    if op not in ("upsert", "remove") or rtype not in FIELDS_BY_TYPE:
        raise ValueError(f"bad change op/type {op!r}/{rtype!r}")
    values: Sequence[Any] | None = None
    problem = None
    if op == "upsert":
        if "row" in raw:
            row = raw["row"]
            if not isinstance(row, list) or not row or row[0] != rtype:
                raise ValueError("upsert without a whole record")
            values = row[1:]
            problem = row_problem(rtype, values) if check else None
        else:
            record = raw.get("record")
            if not isinstance(record, dict) or not FIELDS_BY_TYPE[rtype].keys() <= record.keys():
                raise ValueError("upsert without a whole record")
            problem = record_problem(record, rtype) if check else None
            values = [record[name] for name in FIELDS_BY_TYPE[rtype]]
    if problem:  # the whole page is refused: nothing of it is applied, the breaker counts a failure
        raise ValueError(f"change {raw.get('seq')}: {problem}")
    return Change(
        int(raw["seq"]), op, rtype, str(raw["key"]), int(raw["version"]), str(raw.get("at", "")), values
    )


def _decode(path: str, status: int, raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RegistryUnavailable(f"{path}: the answer is not JSON (HTTP {status})") from None


def _feed_page(after: int, epoch: str | None, status: int, raw: bytes, check: bool = True) -> FeedPage:
    with cycle_collection_paused():  # a page is up to 10,000 changes, made into objects at once
        return _decoded_page(after, epoch, status, raw, check)


def _decoded_page(after: int, epoch: str | None, status: int, raw: bytes, check: bool) -> FeedPage:
    body = _decode("/feed", status, raw)
    if status == 409:
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        raise FeedBroken(f"the registry refused the feed position {after}: {code}")
    if status != 200 or not isinstance(body, dict):
        raise RegistryUnavailable(f"/feed: HTTP {status}")
    try:
        changes = [_change(c, check) for c in body["changes"]]
        page = FeedPage(str(body["epoch"]), changes, int(body["last_seq"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryUnavailable(f"/feed: malformed answer ({exc})") from None
    if epoch is not None and page.epoch != epoch:
        raise FeedBroken(f"the registry's sequence was reset (epoch {page.epoch}, replica has {epoch})")
    return page


def feed_problem(raw: bytes) -> str | None:
    """What is malformed in a feed answer's changes (as :func:`_feed_page` would say it), or None. Run in
    the checker process on large pages."""
    try:
        body = orjson.loads(raw)
        for change in body["changes"]:
            _change(change)
    except (KeyError, TypeError, ValueError) as exc:
        return str(exc)
    return None


# A page this large (a catch-up's 10,000 changes) has its records checked in a second process while this
# one decodes it and applies the page before: the checks are most of a page's CPU, and a catch-up of an
# hour's changes must not wait for them on one core. Nothing of a page is applied before its check passed.
CHECK_ASIDE_BYTES: Final = 256 * 1024


class RegistryClient(AsyncHttpClient):
    def __init__(self, base_url: str, timeout_s: float, context: ssl.SSLContext | None = None) -> None:
        super().__init__(base_url, context, timeout_s, json_serialize=lambda o: orjson.dumps(o).decode())
        self._checker: ProcessPoolExecutor | None = None

    async def close(self) -> None:
        await super().close()
        if self._checker is not None:
            self._checker.shutdown(wait=False, cancel_futures=True)
            self._checker = None

    def unreachable(self, path: str, exc: BaseException) -> Exception:
        return RegistryUnavailable(f"{path}: {type(exc).__name__}: {exc}".strip(": "))

    async def _fetch(self, method: str, path: str, body: Any = None) -> tuple[int, bytes]:
        status, raw, _ = await self.request(method, path, body)
        if status >= 500:
            raise RegistryUnavailable(f"{path}: HTTP {status}")
        return status, raw

    async def _call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        status, raw = await self._fetch(method, path, body)
        return status, _decode(path, status, raw)

    async def health(self) -> dict[str, Any]:
        status, body = await self._call("GET", "/health")
        if status != 200 or not isinstance(body, dict) or body.get("status") != "ok":
            raise RegistryUnavailable(f"/health: HTTP {status}")
        return body

    async def feed(self, after: int, limit: int, epoch: str | None) -> FeedPage:
        page, verdict = await self.feed_in_check(after, limit, epoch)
        await verdict
        return page

    async def feed_in_check(
        self, after: int, limit: int, epoch: str | None
    ) -> tuple[FeedPage, asyncio.Future[None]]:
        """The page decoded, and its check, which may still run: await it (it raises RegistryUnavailable
        for a malformed page) before any of the page is used. Meanwhile the next page can be fetched."""
        query = f"/feed?after={after}&limit={limit}&encoding={ROWS}" + (f"&epoch={epoch}" if epoch else "")
        status, raw = await self._fetch("GET", query)
        # A page is up to 10,000 records: decode it in a thread, not on the loop kiosks use.
        if status != 200 or len(raw) < CHECK_ASIDE_BYTES:
            page = await asyncio.to_thread(_feed_page, after, epoch, status, raw)
            passed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            passed.set_result(None)
            return page, passed
        if self._checker is None:
            self._checker = ProcessPoolExecutor(
                1, mp_context=multiprocessing.get_context("spawn"), initializer=gc.disable
            )  # it only checks pages: the cycle collector would only scan them
        checked = asyncio.get_running_loop().run_in_executor(self._checker, feed_problem, raw)
        try:
            page = await asyncio.to_thread(_feed_page, after, epoch, status, raw, False)
        except BaseException:
            checked.cancel()
            raise
        return page, asyncio.ensure_future(self._verdict(checked, after, epoch, status, raw))

    async def _verdict(
        self, checked: asyncio.Future[str | None], after: int, epoch: str | None, status: int, raw: bytes
    ) -> None:
        try:
            problem = await checked
        except BrokenProcessPool:  # the checker died: check here
            self._checker = None
            await asyncio.to_thread(_feed_page, after, epoch, status, raw)
            return
        if problem:
            raise RegistryUnavailable(f"/feed: malformed answer ({problem})")

    async def versions(self, keys: list[tuple[str, str]]) -> tuple[int, dict[str, int | None]]:
        """(the registry's last seq, {"type/key": version or None})."""
        status, body = await self._call("POST", "/versions", {"keys": [list(k) for k in keys]})
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("versions"), dict):
            raise RegistryUnavailable(f"/versions: HTTP {status}")
        versions = body["versions"]
        if not all(v is None or (isinstance(v, int) and not isinstance(v, bool)) for v in versions.values()):
            raise RegistryUnavailable("/versions: malformed answer (versions are not integers)")
        return int(body.get("seq", 0)), {str(k): v for k, v in versions.items()}
