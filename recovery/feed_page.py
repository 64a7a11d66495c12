"""A change-feed page as the registry sends it, decoded and checked: the feed's :class:`Change` and
:class:`FeedPage`, and the two errors the link acts on.

Kept apart from the HTTP client, so that the page checker process (see ``registry_client``) imports only
this, the JSON decoder and the format's rules, and starts in a few hundredths of a second.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from issuance_server.process_memory import cycle_collection_paused, keep_freed_memory
from wire.linkage import FIELDS_BY_TYPE, record_problem, row_problem


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


def change_of(raw: Any, check: bool = True) -> Change:
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


def decode_json(path: str, status: int, raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise RegistryUnavailable(f"{path}: the answer is not JSON (HTTP {status})") from None


def feed_page(after: int, epoch: str | None, status: int, raw: bytes, check: bool = True) -> FeedPage:
    with cycle_collection_paused():  # a page is up to 10,000 changes, made into objects at once
        return _decoded_page(after, epoch, status, raw, check)


def _decoded_page(after: int, epoch: str | None, status: int, raw: bytes, check: bool) -> FeedPage:
    body = decode_json("/feed", status, raw)
    if status == 409:
        code = body.get("error", {}).get("code") if isinstance(body, dict) else None
        raise FeedBroken(f"the registry refused the feed position {after}: {code}")
    if status != 200 or not isinstance(body, dict):
        raise RegistryUnavailable(f"/feed: HTTP {status}")
    try:
        changes = [change_of(c, check) for c in body["changes"]]
        page = FeedPage(str(body["epoch"]), changes, int(body["last_seq"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryUnavailable(f"/feed: malformed answer ({exc})") from None
    if epoch is not None and page.epoch != epoch:
        raise FeedBroken(f"the registry's sequence was reset (epoch {page.epoch}, replica has {epoch})")
    return page


def feed_problem(raw: bytes) -> str | None:
    """What is malformed in a feed answer's changes (as :func:`feed_page` would say it), or None. Run in
    the checker process on large pages."""
    try:
        body = orjson.loads(raw)
        for change in body["changes"]:
            change_of(change)
    except (KeyError, TypeError, ValueError) as exc:
        return str(exc)
    return None


def checker_start() -> None:
    """The page checker process's start: it only checks pages, so the cycle collector would only scan them
    and its freed memory is kept for the next page; and it yields the CPU to the server's threads (kiosks'
    requests, the writer) when both want it."""
    gc.disable()
    keep_freed_memory()
    os.nice(10)
