"""Malformed answers for the ``garbage`` fault (modes ``syntax``, ``shape``, ``record``: see ``faults``).

Each is derived from the real answer, so that it looks plausible up to the point where it is wrong.
"""

from __future__ import annotations

from typing import Any, Final

import orjson

from registry_sim.feed import FeedPage

_BROKEN_RESIDENT: Final = {"t": "resident", "atena_no": "0000000000", "name": None}


def feed_body(mode: str, page: FeedPage, after: int, rows: bool = False) -> bytes:
    """A ``/feed`` answer broken in the way ``mode`` says (its changes carry ``row`` with ``rows``)."""
    if mode == "shape":
        return orjson.dumps(
            {"epoch": page.epoch, "changes": {"seq": after + 1}, "last_seq": str(page.last_seq)}
        )
    if mode == "record":
        entries = list(page.entries)
        broken = {
            "seq": after + 1,
            "op": "upsert",
            "t": "resident",
            "key": "0000000000",
            "version": 1,
            "at": "",
            "record": _BROKEN_RESIDENT,
        }
        if entries:  # the middle change loses the last field of its record
            middle = orjson.loads(entries[len(entries) // 2])
            if rows:
                row = middle.pop("row", None) or ["resident", "0000000000"]
                broken = middle | {"op": "upsert", "row": row[:-1]}
            else:
                record = middle.get("record") or _BROKEN_RESIDENT
                record.pop(list(record)[-1], None)
                broken = middle | {"op": "upsert", "record": record}
            entries[len(entries) // 2] = orjson.dumps(broken)
        elif rows:
            broken.pop("record")
            entries = [orjson.dumps(broken | {"row": ["resident", "0000000000", None]})]
        else:
            entries = [orjson.dumps(broken)]
        return page.body(entries)
    body = page.body()
    return body[: max(1, len(body) // 2)] + b"\x00\xff garbage"


def versions_body(mode: str, answer: dict[str, Any]) -> bytes:
    """A ``/versions`` answer broken in the way ``mode`` says."""
    if mode == "shape":
        return orjson.dumps({"epoch": answer["epoch"], "seq": "?", "versions": list(answer["versions"])})
    if mode == "record":
        versions = {k: str(v) for k, v in answer["versions"].items()}
        return orjson.dumps({**answer, "versions": versions})
    body = orjson.dumps(answer)
    return body[: max(1, len(body) // 2)] + b"\x00\xff garbage"


def snapshot_line(mode: str, rows: bool = False) -> tuple[bytes, str | None]:
    """A snapshot line to slip in after the header, and the record type it counts as in the end line (in the
    rows encoding with ``rows``: there a record is an array, so the wrong shape is an object)."""
    if mode == "shape":
        return (b'{"resident": "0000000000"}\n' if rows else b'["resident", "0000000000"]\n'), None
    if mode == "record":
        if rows:
            return b'["resident", "0000000000", null]\n', "resident"
        return orjson.dumps(_BROKEN_RESIDENT) + b"\n", "resident"
    return b'{"t": "resident", "atena_no": "00\x00\xff garbage\n', None
