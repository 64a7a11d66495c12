"""Counter work at the city-hall desk: look residents up (住民票の照会) and, in recovery mode, issue
certificates at the counter from the replica (the seed's サブシステム機能)."""

from __future__ import annotations

from functools import partial
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.core import ServerCore
from issuance_server.replica import store as replica_store
from wire.kiosk_api import Mode

SEARCH_LIMIT = 50
SEARCH_FIELDS = (
    "atena_no",
    "name",
    "name_kana",
    "name_alpha",
    "tsusho",
    "birth_date",
    "sex",
    "address",
    "katagaki",
    "status",
)


def mask_kojin_bango(number: str | None) -> str | None:
    return None if not number else "*" * 8 + number[-4:]


async def search_residents(
    core: ServerCore, *, name: str = "", atena_no: str = "", birth_date: str = ""
) -> list[dict[str, Any]]:
    """Residents by name (kana, kanji or alphabet, as :mod:`wire.name_search` reads it), 宛名番号 or birth
    date (combined with AND). 個人番号 is always masked: staff with the mynumber role unmask one resident's
    with a reason (:func:`kojin_bango_of`)."""
    if not (name.strip() or atena_no or birth_date):
        raise ApiError(400, "bad_field", "give name, atena_no or birth_date to search by")
    if not core.replica.ready:
        raise ApiError(503, "replica_not_loaded", "the resident replica is not loaded yet")
    rows = await core.db.read(
        partial(
            replica_store.search_residents,
            columns=(*SEARCH_FIELDS, "kojin_bango"),
            limit=SEARCH_LIMIT + 1,
            name=name.strip(),
            atena_no=atena_no,
            birth_date=birth_date,
        )
    )
    out = []
    for row in rows[:SEARCH_LIMIT]:
        item = {f: row[f] for f in SEARCH_FIELDS}
        item["kojin_bango"] = mask_kojin_bango(row["kojin_bango"])
        out.append(item)
    return out


def require_recovery(core: ServerCore) -> None:
    if core.mode != Mode.RECOVERY:
        raise ApiError(
            409,
            "counter_issuance_recovery_only",
            "counter issuance here is the sub-system's: it runs in recovery mode; use the main system now",
        )


async def kojin_bango_of(core: ServerCore, atena_no: str) -> str | None:
    """One resident's 個人番号 unmasked (the caller audits who asked and why)."""
    if not core.replica.ready:
        raise ApiError(503, "replica_not_loaded", "the resident replica is not loaded yet")
    found, number = await core.db.read(partial(replica_store.kojin_bango, atena_no=atena_no))
    if not found:
        raise ApiError(404, "resident_not_found", f"no resident {atena_no}")
    return number
