"""What an issuance reads about a resident: the facts from one replica transaction, confirmed current
with the registry before anything is printed, and the per-session ids of household members."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import sqlite3
from datetime import datetime
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.core import ServerCore
from issuance_server.issuing.eligibility import (
    Facts,
    IssueRequest,
    juminhyo_persons,
)
from issuance_server.replica.store import Replica
from issuance_server.storage.database import Transaction
from wire.clock import JST
from wire.kiosk_api import (
    TAX_KINDS,
    CertificateKind,
    ErrorCode,
)


async def load_facts(tx: Transaction, atena_no: str, now: datetime) -> Facts:
    """Everything the rules and the renderer need about the card holder, from one transaction."""
    holder = await Replica.resident(tx, atena_no)
    if holder is None:
        return Facts(now=now, holder=None)
    household, seals, tax = await tx.run(lambda conn: _records_of(conn, holder["household_no"], atena_no))
    return Facts(
        now=now,
        holder=holder,
        household=[dict(p) for p in household],
        seals=[dict(s) for s in seals],
        tax={int(t["fiscal_year"]): dict(t) for t in tax},
    )


def _records_of(conn: sqlite3.Connection, household_no: str, atena_no: str) -> tuple[list[Any], ...]:
    """The holder's household, seals and tax records: three statements in one hop to the database's thread."""
    return (
        conn.execute(
            "SELECT * FROM replica.resident WHERE household_no = ? AND status = 'resident'"
            " ORDER BY relationship != '世帯主', birth_date, atena_no",
            (household_no,),
        ).fetchall(),
        conn.execute(
            "SELECT * FROM replica.seal WHERE owner_atena_no = ? ORDER BY status != 'active', registered_on DESC",
            (atena_no,),
        ).fetchall(),
        conn.execute("SELECT * FROM replica.tax WHERE owner_atena_no = ?", (atena_no,)).fetchall(),
    )


async def replica_as_of(tx: Transaction) -> str:
    row = await tx.fetchone("SELECT replica_as_of FROM main.sync_state WHERE id = 1")
    return str(row[0]) if row and row[0] else ""


def member_id(session_id: str, atena_no: str) -> str:
    """An opaque per-session id for a household member, so the kiosk never sees 宛名番号."""
    return hashlib.sha256(f"{session_id}|{atena_no}".encode()).hexdigest()[:16]


def resolve_members(session_id: str, facts: Facts, ids: list[str]) -> tuple[str, ...]:
    by_id = {member_id(session_id, p["atena_no"]): p["atena_no"] for p in facts.household}
    try:
        return tuple(by_id[i] for i in ids)
    except KeyError:
        raise ApiError(
            400, ErrorCode.BAD_FIELD, "a chosen member is not in your household", field="members"
        ) from None


def printed_versions(req: IssueRequest, facts: Facts) -> dict[str, int | None]:
    """{"type/key": version} of every replica record the certificate would print (for the probe)."""
    if facts.holder is None:
        return {}
    persons = [facts.holder]
    if req.kind == CertificateKind.JUMINHYO:
        with contextlib.suppress(KeyError):
            persons = juminhyo_persons(req, facts)
    versions: dict[str, int | None] = {f"resident/{p['atena_no']}": p["version"] for p in persons}
    versions[f"resident/{facts.holder['atena_no']}"] = facts.holder["version"]
    if req.kind == CertificateKind.INKAN:
        versions.update({f"seal/{seal['seal_no']}": seal["version"] for seal in facts.seals})
    if req.kind in TAX_KINDS and req.fiscal_year in facts.tax:
        record = facts.tax[req.fiscal_year]
        versions[f"tax/{record['owner_atena_no']}|{record['fiscal_year']}"] = record["version"]
    return versions


async def data_as_of(core: ServerCore, tx: Transaction) -> str:
    """Up to when the replica is known to match the registry."""
    confirmed = core.freshness.data_as_of() if core.freshness is not None else ""
    return confirmed or await replica_as_of(tx)


def age_s(as_of: str, now: datetime) -> float:
    try:
        return (now - datetime.fromisoformat(as_of.replace("Z", "+00:00"))).total_seconds()
    except ValueError:
        return float("inf")


async def confirmed_facts(
    core: ServerCore, atena_no: str, req: IssueRequest, member_ids: list[str], session_id: str, now: datetime
) -> tuple[IssueRequest, Facts, str, str]:
    """The facts about the holder, read in one transaction and confirmed current with the registry
    (normal mode): a replica found behind catches up and the facts are read again. Also returns the
    data-as-of time and the mode, read once, for everything the issuance records and prints."""
    for _ in range(3):
        async with core.db.transaction(write=False) as tx:
            facts = await load_facts(tx, atena_no, now.astimezone(JST))
            as_of = await data_as_of(core, tx)
        if member_ids:
            req = dataclasses.replace(req, members=resolve_members(session_id, facts, member_ids))
        whole = req.kind == CertificateKind.JUMINHYO and req.scope != "self"  # membership matters
        if core.freshness is None or await core.freshness.confirm(printed_versions(req, facts), whole):
            return req, facts, as_of, core.mode  # the mode these facts were confirmed under
    raise ApiError(
        503, ErrorCode.REPLICA_BEHIND, "the records are being updated; please try again in a moment"
    )
