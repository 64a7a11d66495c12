"""After recovery: which certificates issued from the replica printed records that have changed upstream
since, and what changed (field names only: the report names what to look at, not personal data)."""

from __future__ import annotations

import json
from typing import Any

from issuance_server.core import ServerCore
from recovery.feed_apply import key_values
from wire.linkage import KEYS_BY_TYPE

IGNORED = {"version", "updated_at"}


async def reconcile(core: ServerCore, since: str | None = None) -> list[dict[str, Any]]:
    rows = await core.db.fetchall(
        "SELECT i.serial, i.kind, i.channel, i.terminal, i.status, i.issued_at, i.data_as_of, s.records"
        " FROM issuances i JOIN issuance_sources s USING (serial)"
        " WHERE i.mode = 'recovery' AND i.issued_at >= ? ORDER BY i.issued_at",
        (since or "",),
    )
    report = []
    for row in rows:
        changes = []
        for ref, printed in json.loads(row["records"]).items():
            rtype, key = ref.split("/", 1)
            where = " AND ".join(f"{k} = ?" for k in KEYS_BY_TYPE[rtype])
            current = await core.db.fetchone(
                f"SELECT * FROM replica.{rtype} WHERE {where}",  # noqa: S608  table, column and placeholder text from constants; values are bound
                key_values(rtype, key),
            )
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
