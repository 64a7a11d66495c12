"""Issuing certificates: read the facts in one consistent view of the replica, decide with the rules,
render off the event loop, record each issuance with its fee, digest and data-as-of time, and keep the
PDF only until it is printed."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.audit import SYSTEM, Actor
from issuance_server.certificates.fonts import MissingGlyphError, check_coverage
from issuance_server.certificates.pades import sign_pdf
from issuance_server.certificates.render import CertificateRequest, RenderedCertificate, render_certificate
from issuance_server.clock import JST, to_iso, utc_now
from issuance_server.core import ServerCore
from issuance_server.database import Transaction
from issuance_server.eligibility import (
    REFUSALS,
    Facts,
    IssueRequest,
    Policy,
    Refusal,
    holder_refusal,
    juminhyo_persons,
    kiosk_fiscal_years,
    refusal_for,
)
from issuance_server.replica_store import Replica
from wire.kiosk_api import (
    JUMINHYO_OPTIONS,
    KIND_LABELS_EN,
    KIND_LABELS_JA,
    TAX_KINDS,
    CertificateKind,
    ErrorCode,
)

MAX_COPIES = 10
log = logging.getLogger("konbini.issuance")


@dataclass(frozen=True)
class Issued:
    serial: str
    kind: str
    fee_yen: int
    pages: int


def policy_of(core: ServerCore, channel: str = "kiosk", replica_stale: bool = False) -> Policy:
    if channel == "counter":
        return Policy(True, None, check_coverage, replica_stale=replica_stale, min_age=None)
    return Policy(
        core.settings.kiosk_allow_kojin_bango,
        core.calendar,
        check_coverage,
        maintenance=core.mode == "maintenance",
        replica_stale=replica_stale,
    )


async def load_facts(tx: Transaction, atena_no: str, now: datetime) -> Facts:
    """Everything the rules and the renderer need about the card holder, from one transaction."""
    holder = await Replica.resident(tx, atena_no)
    if holder is None:
        return Facts(now=now, holder=None)
    household = await tx.fetchall(
        "SELECT * FROM replica.resident WHERE household_no = ? AND status = 'resident'"
        " ORDER BY relationship != '世帯主', birth_date, atena_no",
        (holder["household_no"],),
    )
    seals = await tx.fetchall(
        "SELECT * FROM replica.seal WHERE owner_atena_no = ? ORDER BY status != 'active', registered_on DESC",
        (atena_no,),
    )
    tax = await tx.fetchall("SELECT * FROM replica.tax WHERE owner_atena_no = ?", (atena_no,))
    return Facts(
        now=now,
        holder=holder,
        household=[dict(p) for p in household],
        seals=[dict(s) for s in seals],
        tax={int(t["fiscal_year"]): dict(t) for t in tax},
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


def menu_for(core: ServerCore, session_id: str, facts: Facts) -> list[dict[str, Any]]:
    """Every kind, with what this resident may have and, for the rest, why not."""
    policy = policy_of(core)
    items = []
    for kind in CertificateKind:
        item: dict[str, Any] = {
            "kind": kind.value,
            "label_ja": KIND_LABELS_JA[kind],
            "label_en": KIND_LABELS_EN[kind],
            "fee_yen": core.settings.kiosk_fees_yen[kind.value],
        }
        if kind is CertificateKind.JUMINHYO:
            refusal = refusal_for(IssueRequest(kind), facts, policy)
            item["scopes"] = _scope_choices(facts, policy)
            item["members"] = (
                [
                    {
                        "member_id": member_id(session_id, p["atena_no"]),
                        "name": p["name"],
                        "relationship": p["relationship"],
                    }
                    for p in facts.household
                ]
                if refusal is None
                else []
            )
            item["options"] = [o for o in JUMINHYO_OPTIONS if o != "kojin_bango" or policy.allow_kojin_bango]
        elif kind in TAX_KINDS:
            refusal = holder_refusal(facts, policy)
            years = [] if refusal is not None else _fiscal_year_choices(kind, facts, policy)
            item["fiscal_years"] = [
                {"fiscal_year": y, "available": r is None, "refusal": _json(r)} for y, r in years
            ]
            if years and all(r is not None for _, r in years):
                refusal = years[0][1]  # no year at all: say why for the latest
        else:
            refusal = refusal_for(IssueRequest(kind), facts, policy)
        item["available"] = refusal is None
        item["refusal"] = _json(refusal)
        items.append(item)
    return items


def _fiscal_year_choices(
    kind: CertificateKind, facts: Facts, policy: Policy
) -> list[tuple[int, Refusal | None]]:
    return [
        (y, refusal_for(IssueRequest(kind, fiscal_year=y), facts, policy))
        for y in kiosk_fiscal_years(facts.today)
    ]


def _scope_choices(facts: Facts, policy: Policy) -> list[dict[str, Any]]:
    out = []
    for scope in ("self", "household"):
        refusal = refusal_for(IssueRequest(CertificateKind.JUMINHYO, scope=scope), facts, policy)
        out.append({"scope": scope, "available": refusal is None, "refusal": _json(refusal)})
    household_ok = out[1]["available"]
    out.append(
        {
            "scope": "members",
            "available": out[0]["available"],
            "refusal": None if household_ok else out[1]["refusal"],
        }
    )
    return out


def _json(refusal: Any) -> dict[str, str] | None:
    return refusal.as_json() if refusal is not None else None


async def _allocate_serial(tx: Transaction, day: str) -> str:
    await tx.execute(
        "INSERT INTO serial_counter (day, last) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET last = last + 1",
        (day,),
    )
    row = await tx.fetchone("SELECT last FROM serial_counter WHERE day = ?", (day,))
    assert row is not None
    return f"{day}-{int(row[0]):06d}"


def _render_request(
    core: ServerCore, req: IssueRequest, facts: Facts, serial: str, now: datetime, as_of: datetime | None
) -> CertificateRequest:
    s = core.settings
    kind = CertificateKind(req.kind)
    assert facts.holder is not None
    persons = juminhyo_persons(req, facts) if kind is CertificateKind.JUMINHYO else [facts.holder]
    return CertificateRequest(
        kind=kind.value,
        persons=persons,
        serial=serial,
        issued_at=now,
        municipality_name=s.municipality_name,
        municipality_code=s.municipality_code,
        mayor_name=s.mayor_name,
        options=req.options,
        layout=s.juminhyo_layout,
        seal=facts.active_seal() if kind is CertificateKind.INKAN else None,
        tax=facts.tax.get(req.fiscal_year or 0) if kind in TAX_KINDS else None,
        data_as_of=as_of,
    )


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


def _age_s(as_of: str, now: datetime) -> float:
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
    raise ApiError(503, "replica_behind", "the records are being updated; please try again in a moment")


async def issue(
    core: ServerCore,
    actor: Actor,
    channel: str,
    atena_no: str,
    req: IssueRequest,
    copies: int,
    *,
    session_id: str | None = None,
    member_ids: list[str] | None = None,
) -> list[Issued]:
    """Issue ``copies`` certificates of ``req`` for ``atena_no``: at a kiosk to the card holder (with
    ``member_ids`` from the menu), or at the counter by a clerk (``req.members`` as 宛名番号)."""
    if not 1 <= copies <= MAX_COPIES:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"copies must be 1 to {MAX_COPIES}", field="copies")
    if not core.replica.ready:
        raise ApiError(503, ErrorCode.SERVICE_CLOSED, "the resident replica is not loaded yet")
    now = utc_now()
    req, facts, as_of, mode = await confirmed_facts(
        core, atena_no, req, member_ids or [], session_id or "", now
    )
    stale = mode == "recovery" and _age_s(as_of, now) > core.settings.recovery_max_replica_age_s
    try:
        refusal = refusal_for(req, facts, policy_of(core, channel, stale))
    except ValueError as exc:
        raise ApiError(400, ErrorCode.BAD_FIELD, str(exc)) from None
    if refusal is not None:
        await core.audit.append(
            actor, "issue", "refused", atena_no, kind=req.kind, channel=channel, reason=refusal.code
        )
        raise ApiError(403, ErrorCode.REFUSED, refusal.message_en, refusal=refusal.as_json())
    async with core.db.transaction() as tx:
        serials = [await _allocate_serial(tx, f"{facts.today:%Y%m%d}") for _ in range(copies)]
    printed_as_of = (
        datetime.fromisoformat(as_of.replace("Z", "+00:00")) if mode == "recovery" and as_of else None
    )
    requests = [_render_request(core, req, facts, serial, now, printed_as_of) for serial in serials]
    try:
        pades_sign = channel == "counter" or core.settings.pades_for_kiosk
        rendered = await asyncio.gather(*(_render(core, r, pades_sign) for r in requests))
    except MissingGlyphError:
        refusal = REFUSALS["unprintable_character"]
        await core.audit.append(actor, "issue", "refused", atena_no, kind=req.kind, reason=refusal.code)
        raise ApiError(403, ErrorCode.REFUSED, refusal.message_en, refusal=refusal.as_json()) from None
    except ValueError as exc:  # the renderer's last guard: records that cannot be printed together
        log.warning("records of an issuance failed the renderer's check: %s", type(exc).__name__)
        refusal = REFUSALS["records_inconsistent"]
        await core.audit.append(actor, "issue", "refused", atena_no, kind=req.kind, reason=refusal.code)
        raise ApiError(403, ErrorCode.REFUSED, refusal.message_en, refusal=refusal.as_json()) from None
    fees = core.settings.counter_fees_yen if channel == "counter" else core.settings.kiosk_fees_yen
    fee = fees[req.kind]
    options = {"scope": req.scope, "options": sorted(req.options), "fiscal_year": req.fiscal_year}
    versions = printed_versions(req, facts)
    sources = json.dumps(_sources(requests[0]), ensure_ascii=False)
    issued: list[Issued] = []
    async with core.db.transaction() as tx:
        for cert_req, doc in zip(requests, rendered, strict=True):
            persons = [p["atena_no"] for p in cert_req.persons]
            await tx.execute(
                "INSERT INTO issuances (serial, kind, options, atena_nos, channel, terminal, session_id, fee_yen,"
                " status, mode, data_as_of, content_digest, pages, issued_at, updated_at, record_versions,"
                " issued_by, holder_atena_no) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'issued', ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    cert_req.serial, req.kind, json.dumps(options), json.dumps(persons), channel, actor.terminal,
                    session_id, fee, mode, as_of, doc.content_digest, doc.pages, to_iso(now), to_iso(now),
                    json.dumps(versions), actor.actor_id, atena_no,
                ),
            )  # fmt: skip
            await tx.execute(
                "INSERT INTO issuance_documents (serial, pdf) VALUES (?, ?)", (cert_req.serial, doc.pdf)
            )
            await tx.execute(
                "INSERT INTO issuance_sources (serial, records) VALUES (?, ?)", (cert_req.serial, sources)
            )
            await core.audit.append_in(
                tx, actor, "issue", "ok", atena_no, kind=req.kind, serial=cert_req.serial, fee_yen=fee,
                persons=len(persons), channel=channel, mode=mode,
            )  # fmt: skip
            issued.append(Issued(cert_req.serial, req.kind, fee, doc.pages))
    core.count("issuances_total", len(issued))
    return issued


def _sources(req: CertificateRequest) -> dict[str, Any]:
    """The replica records a certificate printed, keyed like the feed ("type/key"), for reconciliation."""
    out: dict[str, Any] = {f"resident/{p['atena_no']}": dict(p) for p in req.persons}
    if req.seal is not None:
        out[f"seal/{req.seal['seal_no']}"] = dict(req.seal)
    if req.tax is not None:
        out[f"tax/{req.tax['owner_atena_no']}|{req.tax['fiscal_year']}"] = dict(req.tax)
    return out


async def _render(core: ServerCore, req: CertificateRequest, pades_sign: bool) -> RenderedCertificate:
    """Render (and PAdES-sign a document handed out as a file) in the render threads, off the loop."""

    def work() -> RenderedCertificate:
        doc = render_certificate(req, core.secrets.issuing_key)
        return dataclasses.replace(doc, pdf=sign_pdf(doc.pdf, core.pades_signer)) if pades_sign else doc

    return await asyncio.get_running_loop().run_in_executor(core.render_pool, work)


async def document_for_session(core: ServerCore, session_id: str, serial: str) -> bytes:
    """The PDF of ``serial``, only to the session that issued it and only until it is printed."""
    row = await core.db.fetchone(
        "SELECT d.pdf, i.status FROM issuances i LEFT JOIN issuance_documents d USING (serial)"
        " WHERE i.serial = ? AND i.session_id = ?",
        (serial, session_id),
    )
    if row is None:
        raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate in this session")
    if row[0] is None:
        raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row[1]}")
    return bytes(row[0])


async def document_at_counter(core: ServerCore, actor: Actor, serial: str) -> bytes:
    """The PDF of a certificate issued at the counter, to the clerk who issued it, until it is printed."""
    row = await core.db.fetchone(
        "SELECT d.pdf, i.status FROM issuances i LEFT JOIN issuance_documents d USING (serial)"
        " WHERE i.serial = ? AND i.channel = 'counter' AND i.issued_by = ?",
        (serial, actor.actor_id),
    )
    if row is None:
        raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate issued at the counter")
    if row[0] is None:
        raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row[1]}")
    return bytes(row[0])


async def report_print(
    core: ServerCore, actor: Actor, session_id: str | None, serial: str, printed: bool
) -> str:
    """printed -> 'printed'; print failed -> 'voided' with the fee refunded. The PDF is dropped either way.
    ``session_id`` None: a counter certificate, reported by the clerk who issued it."""
    new_status = "printed" if printed else "voided"
    async with core.db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT status, holder_atena_no, fee_yen FROM issuances WHERE serial = ?"
            + (
                " AND session_id = ?"
                if session_id is not None
                else " AND channel = 'counter' AND issued_by = ?"
            ),
            (serial, session_id if session_id is not None else actor.actor_id),
        )
        if row is None:
            raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate in this session")
        if row[0] != "issued":
            raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row[0]}")
        refund = 0 if printed else int(row[2])
        await tx.execute(
            "UPDATE issuances SET status = ?, refund_yen = ?, updated_at = ? WHERE serial = ?",
            (new_status, refund, to_iso(utc_now()), serial),
        )
        await tx.execute("DELETE FROM issuance_documents WHERE serial = ?", (serial,))
        details: dict[str, Any] = {"serial": serial}
        if not printed:
            details["refund_yen"] = refund
        await core.audit.append_in(tx, actor, "print_report", new_status, row[1], **details)
    return new_status


async def void_unprinted(
    core: ServerCore,
    actor: Actor,
    reason: str,
    *,
    session_id: str | None = None,
    issued_before: str | None = None,
) -> int:
    """Void (and refund) certificates issued but never reported printed: those of an ended session, or
    all issued before ``issued_before``. Their PDFs are deleted: nothing personal lingers."""
    where, params = (
        ("session_id = ?", (session_id,)) if session_id is not None else ("issued_at < ?", (issued_before,))
    )
    now = to_iso(utc_now())
    async with core.db.transaction() as tx:
        rows = await tx.fetchall(
            f"SELECT serial, fee_yen, holder_atena_no FROM issuances WHERE status = 'issued' AND {where}",
            params,
        )
        for row in rows:
            await tx.execute(
                "UPDATE issuances SET status = 'voided', refund_yen = fee_yen, updated_at = ? WHERE serial = ?",
                (now, row["serial"]),
            )
            await tx.execute("DELETE FROM issuance_documents WHERE serial = ?", (row["serial"],))
            await core.audit.append_in(
                tx, actor, "void_unprinted", "voided", row["holder_atena_no"], serial=row["serial"],
                refund_yen=row["fee_yen"], reason=reason,
            )  # fmt: skip
    return len(rows)


async def sweep_unprinted(core: ServerCore, every_s: float = 30.0) -> None:
    """Background task: void what was issued and never printed once its session can no longer report it
    (twice the idle timeout: a session expired, a kiosk or the server restarted)."""
    while True:
        await asyncio.sleep(every_s)
        cutoff = to_iso(utc_now() - timedelta(seconds=2 * core.settings.session_idle_s))
        try:
            await void_unprinted(core, SYSTEM, "never reported printed", issued_before=cutoff)
        except Exception:  # keep sweeping; say what went wrong
            log.exception("sweeping unprinted certificates failed")
