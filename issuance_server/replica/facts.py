"""What an issuance reads about a resident: the facts from one replica transaction, confirmed current
with the registry before anything is printed, and the per-session ids of household members."""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
from datetime import datetime
from functools import partial

from issuance_server.api_errors import ApiError
from issuance_server.core import ServerCore
from issuance_server.issuing.eligibility import (
    Facts,
    IssueRequest,
    juminhyo_persons,
)
from issuance_server.replica import store as replica
from issuance_server.storage.engine import Tx
from wire.clock import JST
from wire.kiosk_api import (
    TAX_KINDS,
    CertificateKind,
    ErrorCode,
)


def load_facts(tx: Tx, atena_no: str, now: datetime) -> Facts:
    """Everything the rules and the renderer need about the card holder, from one transaction."""
    holder = replica.resident(tx, atena_no)
    if holder is None:
        return Facts(now=now, holder=None)
    return Facts(
        now=now,
        holder=holder,
        household=[dict(p) for p in replica.household_members(tx, holder["household_no"])],
        seals=[dict(s) for s in replica.seals_of(tx, atena_no)],
        tax={int(t["fiscal_year"]): dict(t) for t in replica.taxes_of(tx, atena_no)},
    )


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


def data_as_of(core: ServerCore, tx: Tx) -> str:
    """Up to when the replica is known to match the registry."""
    confirmed = core.freshness.data_as_of() if core.freshness is not None else ""
    return confirmed or replica.replica_as_of(tx)


def facts_and_as_of(core: ServerCore, atena_no: str, now: datetime, tx: Tx) -> tuple[Facts, str]:
    """The holder's facts and the data-as-of time, read together."""
    return load_facts(tx, atena_no, now.astimezone(JST)), data_as_of(core, tx)


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
        facts, as_of = await core.db.read(partial(facts_and_as_of, core, atena_no, now))
        if member_ids:
            req = dataclasses.replace(req, members=resolve_members(session_id, facts, member_ids))
        whole = req.kind == CertificateKind.JUMINHYO and req.scope != "self"  # membership matters
        if core.freshness is None or await core.freshness.confirm(printed_versions(req, facts), whole):
            return req, facts, as_of, core.mode  # the mode these facts were confirmed under
    raise ApiError(
        503, ErrorCode.REPLICA_BEHIND, "the records are being updated; please try again in a moment"
    )
