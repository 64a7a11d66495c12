"""Issuing certificates: decide with the rules on confirmed facts, render (and PAdES-sign a document
handed out as a file) off the event loop, and record each issuance with its fee, the records and
versions it printed, and the time its data is as of."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from issuance_server.api_errors import ApiError, clip, field
from issuance_server.audit.trail import Actor
from issuance_server.certificates.fonts import MissingGlyphError, check_coverage
from issuance_server.certificates.pades import sign_pdf
from issuance_server.certificates.render import CertificateRequest, RenderedCertificate, render_certificate
from issuance_server.core import ServerCore
from issuance_server.issuing import serials, store
from issuance_server.issuing.eligibility import (
    REFUSALS,
    Facts,
    IssueRequest,
    Policy,
    Refusal,
    juminhyo_persons,
    month_day,
    refusal_for,
)
from issuance_server.metrics import timed
from issuance_server.payments import ledger as payments
from issuance_server.replica.facts import age_s, confirmed_facts, printed_versions
from issuance_server.storage.engine import Tx
from wire.clock import to_iso, utc_now
from wire.kiosk_api import (
    MAX_COPIES,
    TAX_KINDS,
    CertificateKind,
    Channel,
    ErrorCode,
    Mode,
)

log = logging.getLogger("konbini.issuance")


@dataclass(frozen=True)
class Issued:
    serial: str
    kind: str
    fee_yen: int
    pages: int


def request_from_body(data: dict[str, Any]) -> tuple[IssueRequest, list[str]]:
    """The request from a kiosk's or a clerk's JSON body; members as given (the kiosk menu's member ids,
    or 宛名番号 at the counter)."""
    kind = field(data, "kind", str)
    if kind not in {k.value for k in CertificateKind}:
        raise ApiError(400, ErrorCode.KIND_UNKNOWN, f"unknown certificate kind {clip(kind)!r}", field="kind")
    options = field(data, "options", list, required=False, default=[])
    members = field(data, "members", list, required=False, default=[])
    if not all(isinstance(o, str) for o in options) or not all(isinstance(m, str) for m in members):
        raise ApiError(400, ErrorCode.BAD_FIELD, "options and members are lists of strings")
    req = IssueRequest(
        kind=kind,
        scope=field(data, "scope", str, required=False, default="self"),
        options=frozenset(options),
        fiscal_year=field(data, "fiscal_year", int, required=False),
    )
    return req, members


def copies_of(data: dict[str, Any]) -> int:
    copies = field(data, "copies", int, required=False, default=1)
    if not 1 <= copies <= MAX_COPIES:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"copies must be 1 to {MAX_COPIES}", field="copies")
    return int(copies)


def issued_json(issued: list[Issued]) -> dict[str, Any]:
    return {
        "certificates": [
            {"serial": i.serial, "kind": i.kind, "fee_yen": i.fee_yen, "pages": i.pages} for i in issued
        ],
        "total_fee_yen": sum(i.fee_yen for i in issued),
    }


def policy_of(core: ServerCore, channel: str, mode: str, as_of: str, now: datetime) -> Policy:
    """The one policy for a channel, a mode and the replica's data-as-of time: the kiosk menu, the quote
    and the issue all decide with it, so a resident is never offered what the issue step would refuse."""
    stale = mode == Mode.RECOVERY and age_s(as_of, now) > core.settings.recovery_max_replica_age_s
    opens = month_day(core.settings.tax_year_opens)
    if channel == Channel.COUNTER:
        return Policy(True, None, check_coverage, replica_stale=stale, min_age=None, tax_year_opens=opens)
    return Policy(
        core.settings.kiosk_allow_kojin_bango,
        core.calendar,
        check_coverage,
        maintenance=mode == Mode.MAINTENANCE,
        replica_stale=stale,
        tax_year_opens=opens,
    )


def refused(refusal: Refusal, channel: str, **details: Any) -> ApiError:
    """The refusal as the channel may see it: the kiosk a code (neutral where the reason must not be
    told at a store), the desk the whole reason."""
    shown = refusal.for_kiosk() if channel == Channel.KIOSK else refusal.as_json()
    return ApiError(
        403, ErrorCode.REFUSED, "this certificate cannot be issued here", refusal=shown, **details
    )


def _render_request(
    core: ServerCore,
    req: IssueRequest,
    facts: Facts,
    serial: str,
    now: datetime,
    as_of: datetime | None,
    requester_sha256: bytes | None = None,
) -> CertificateRequest:
    s = core.settings
    kind = CertificateKind(req.kind)
    assert facts.holder is not None  # noqa: S101  an invariant that narrows a type, not a check of input
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
        whole_household={p["atena_no"] for p in persons} == {p["atena_no"] for p in facts.household},
        seal=facts.active_seal() if kind is CertificateKind.INKAN else None,
        tax=facts.tax.get(req.fiscal_year or 0) if kind in TAX_KINDS else None,
        data_as_of=as_of,
        public_base_url=s.public_base_url,
        requester_sha256=requester_sha256,
    )


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
    payment_id: str | None = None,
    requester_sha256: bytes | None = None,
    credential_form: str | None = None,
) -> list[Issued]:
    """Issue ``copies`` certificates of ``req`` for ``atena_no``: at a kiosk to the card holder (with
    ``member_ids`` from the menu, paid against the quote ``payment_id``; ``requester_sha256``: the digest of
    the credential certificate the session authenticated, tagged on every sheet; ``credential_form``: its
    form, audited), or at the counter by a clerk (``req.members`` as 宛名番号)."""
    with timed(core.metrics.issue.labels(channel).observe):
        return await _issue(
            core, actor, channel, atena_no, req, copies, session_id, member_ids, payment_id, requester_sha256,
            credential_form,
        )  # fmt: skip


async def _issue(
    core: ServerCore,
    actor: Actor,
    channel: str,
    atena_no: str,
    req: IssueRequest,
    copies: int,
    session_id: str | None,
    member_ids: list[str] | None,
    payment_id: str | None,
    requester_sha256: bytes | None,
    credential_form: str | None,
) -> list[Issued]:
    if not 1 <= copies <= MAX_COPIES:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"copies must be 1 to {MAX_COPIES}", field="copies")
    if not core.replica.ready:
        raise ApiError(503, ErrorCode.SERVICE_CLOSED, "the resident replica is not loaded yet")
    now = utc_now()
    req, facts, as_of, mode = await confirmed_facts(
        core, atena_no, req, member_ids or [], session_id or "", now
    )
    try:
        refusal = refusal_for(req, facts, policy_of(core, channel, mode, as_of, now))
    except ValueError as exc:
        raise ApiError(400, ErrorCode.BAD_FIELD, str(exc)) from None
    if refusal is not None:
        await core.audit.append(
            actor, "issue", "refused", atena_no, kind=req.kind, channel=channel, reason=refusal.code
        )
        raise refused(refusal, channel)
    day = f"{facts.today:%Y%m%d}"
    numbers = await core.db.write(lambda tx: [serials.allocate(tx, day) for _ in range(copies)])
    printed_as_of = (
        datetime.fromisoformat(as_of.replace("Z", "+00:00")) if mode == Mode.RECOVERY and as_of else None
    )
    requests = [
        _render_request(core, req, facts, serial, now, printed_as_of, requester_sha256) for serial in numbers
    ]
    try:
        pades_sign = channel == Channel.COUNTER or core.settings.pades_for_kiosk
        rendered = await asyncio.gather(*(_render(core, r, pades_sign) for r in requests))
    except MissingGlyphError:
        refusal = REFUSALS["unprintable_character"]
        await core.audit.append(actor, "issue", "refused", atena_no, kind=req.kind, reason=refusal.code)
        raise refused(refusal, channel) from None
    except ValueError as exc:  # the renderer's last guard: records that cannot be printed together
        log.warning("records of an issuance failed the renderer's check: %s", type(exc).__name__)
        refusal = REFUSALS["records_inconsistent"]
        await core.audit.append(actor, "issue", "refused", atena_no, kind=req.kind, reason=refusal.code)
        raise refused(refusal, channel) from None
    fees = core.settings.counter_fees_yen if channel == Channel.COUNTER else core.settings.kiosk_fees_yen
    fee = fees[req.kind]
    options = {"scope": req.scope, "options": sorted(req.options), "fiscal_year": req.fiscal_year}
    versions = printed_versions(req, facts)
    sources = json.dumps(_sources(requests[0]), ensure_ascii=False)
    rows = [
        {
            "serial": cert_req.serial, "kind": req.kind, "options": json.dumps(options),
            "atena_nos": json.dumps([p["atena_no"] for p in cert_req.persons]), "channel": channel,
            "terminal": actor.terminal, "session_id": session_id, "fee_yen": fee, "mode": mode,
            "data_as_of": as_of, "content_digest": doc.content_digest, "pages": doc.pages,
            "issued_at": to_iso(now), "record_versions": json.dumps(versions), "issued_by": actor.actor_id,
            "holder_atena_no": atena_no, "payment_id": payment_id,
        }
        for cert_req, doc in zip(requests, rendered, strict=True)
    ]  # fmt: skip
    issued = [
        Issued(row["serial"], req.kind, fee, doc.pages) for row, doc in zip(rows, rendered, strict=True)
    ]

    def record(tx: Tx) -> None:
        for row, doc in zip(rows, rendered, strict=True):
            store.insert_issuance(tx, row, doc.pdf, sources)
            core.audit.record(
                tx, actor, "issue", "ok", atena_no, kind=req.kind, serial=row["serial"], fee_yen=fee,
                persons=len(json.loads(row["atena_nos"])), channel=channel, mode=mode,
                **({"form": credential_form} if credential_form else {}),
            )  # fmt: skip
        if payment_id is not None and not payments.mark_issued(
            tx, payment_id, core.node.incarnation, issued_json(issued)
        ):
            raise ApiError(
                409, ErrorCode.SESSION_STATE, "the session ended while issuing; nothing was issued"
            )

    await core.db.write(record)
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
        with timed(core.metrics.render.observe):
            doc = render_certificate(req, core.secrets.issuing_key)
            return dataclasses.replace(doc, pdf=sign_pdf(doc.pdf, core.pades_signer)) if pades_sign else doc

    return await asyncio.get_running_loop().run_in_executor(core.render_pool, work)


def erase_before(tx: Tx, cutoff: str) -> dict[str, Any]:
    """Delete the issuance records issued before ``cutoff`` (UTC ISO) with the records as printed and any
    PDF left (a purge past retention): their count and the first and last serial and time erased."""
    span = store.erase_before(tx, cutoff)
    return {
        "issuances": int(span["n"]),
        "serials": [span["first_serial"], span["last_serial"]] if span["n"] else None,
        "issued": [span["first_at"], span["last_at"]] if span["n"] else None,
    }


async def issuances_of(core: ServerCore, atena_no: str, limit: int = 100) -> list[dict[str, Any]]:
    """The certificates issued to ``atena_no`` as holder, newest first (at most ``limit``)."""
    return [dict(r) for r in await core.db.read(lambda tx: store.issuances_of(tx, atena_no, limit))]
