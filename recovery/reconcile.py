"""After recovery: which certificates issued from the replica printed records that have changed upstream
since, and what changed (field names only: the report names what to look at, not personal data)."""

from __future__ import annotations

import json
from functools import partial
from typing import Any

from issuance_server.core import ServerCore
from issuance_server.issuing import store as issuing_store
from issuance_server.replica import store as replica_store
from issuance_server.storage.engine import Tx

IGNORED = {"version", "updated_at"}


async def reconcile(core: ServerCore, since: str | None = None) -> list[dict[str, Any]]:
    rows = await core.db.read(partial(issuing_store.recovery_issuances, since=since or ""))
    printed_by_serial = [json.loads(row["records"]) for row in rows]
    refs = sorted({ref for records in printed_by_serial for ref in records})
    current_of = await core.db.read(partial(_current_records, refs))  # one read for the whole report
    report = []
    for row, records in zip(rows, printed_by_serial, strict=True):
        changes = []
        for ref, printed in records.items():
            current = current_of[ref]
            if current is None:
                changes.append({"record": ref, "change": "removed upstream", "fields": []})
            elif current["version"] != printed["version"]:
                names = set(current.keys())  # a record printed under an older format may have other fields
                fields = sorted(
                    f for f in printed if f not in IGNORED and (f not in names or printed[f] != current[f])
                )
                changes.append(
                    {
                        "record": ref,
                        "change": f"version {printed['version']} -> {current['version']}",
                        "fields": fields,
                    }
                )
        if changes:
            report.append(
                {
                    k: row[k]
                    for k in ("serial", "kind", "channel", "terminal", "status", "issued_at", "data_as_of")
                }
                | {"changes": changes}
            )
    return report


def _current_records(refs: list[str], tx: Tx) -> dict[str, dict[str, Any] | None]:
    """Each record reference ('type/key') -> the record in the replica now (None: removed upstream)."""
    out: dict[str, dict[str, Any] | None] = {}
    for ref in refs:
        rtype, key = ref.split("/", 1)
        out[ref] = replica_store.record(tx, rtype, replica_store.key_values(rtype, key))
    return out
