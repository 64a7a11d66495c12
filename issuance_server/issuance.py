"""Issuing certificates: read the data in one consistent view, render off the event loop, record the
issuance with its fee, digest and data-as-of time, and keep the PDF only until it is printed."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from issuance_server.api_errors import ApiError
from issuance_server.audit import Actor
from issuance_server.certificates.fonts import check_coverage
from issuance_server.certificates.juminhyo import render_juminhyo
from issuance_server.clock import JST, to_iso, utc_now
from issuance_server.core import ServerCore
from issuance_server.database import Transaction
from issuance_server.eligibility import Refusal, juminhyo_refusal
from issuance_server.replica_store import Replica
from wire.kiosk_api import KIND_LABELS_JA, CertificateKind, ErrorCode

_render_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="render")
MAX_COPIES = 10


@dataclass(frozen=True)
class Issued:
    serial: str
    kind: str
    fee_yen: int
    pages: int


def fee_for(core: ServerCore, kind: str) -> int:
    return {CertificateKind.JUMINHYO: core.settings.fee_juminhyo_yen}[CertificateKind(kind)]


async def replica_as_of(tx: Transaction) -> str:
    row = await tx.fetchone("SELECT replica_as_of FROM main.sync_state WHERE id = 1")
    return str(row[0]) if row and row[0] else ""


def menu_for(core: ServerCore, person: dict[str, Any] | None, today: date) -> list[dict[str, Any]]:
    refusal: Refusal | None = juminhyo_refusal(person, today, check_coverage)
    return [
        {
            "kind": CertificateKind.JUMINHYO.value,
            "label_ja": KIND_LABELS_JA[CertificateKind.JUMINHYO],
            "fee_yen": core.settings.fee_juminhyo_yen,
            "available": refusal is None,
            "refusal": refusal.as_json() if refusal else None,
        }
    ]


async def _allocate_serial(tx: Transaction, day: str) -> str:
    await tx.execute(
        "INSERT INTO serial_counter (day, last) VALUES (?, 1) ON CONFLICT(day) DO UPDATE SET last = last + 1",
        (day,),
    )
    row = await tx.fetchone("SELECT last FROM serial_counter WHERE day = ?", (day,))
    assert row is not None
    return f"{day}-{int(row[0]):06d}"


async def issue_at_kiosk(
    core: ServerCore, actor: Actor, session_id: str, atena_no: str, kind: str, copies: int
) -> list[Issued]:
    if kind not in {k.value for k in CertificateKind}:
        raise ApiError(400, ErrorCode.KIND_UNKNOWN, f"unknown certificate kind {kind!r}", field="kind")
    if not 1 <= copies <= MAX_COPIES:
        raise ApiError(400, ErrorCode.BAD_FIELD, f"copies must be 1 to {MAX_COPIES}", field="copies")
    if not core.replica.ready:
        raise ApiError(503, ErrorCode.SERVICE_CLOSED, "the resident replica is not loaded yet")
    now = utc_now()
    today = now.astimezone(JST).date()
    # One transaction: the data printed and the serials come from one consistent view of the replica.
    async with core.db.transaction() as tx:
        person = await Replica.resident(tx, atena_no)
        refusal = juminhyo_refusal(person, today, check_coverage)
        if refusal is not None or person is None:
            await core.audit.append_in(
                tx, actor, "issue", "refused", atena_no, kind=kind, reason=refusal and refusal.code
            )
            assert refusal is not None
            raise ApiError(403, ErrorCode.REFUSED, refusal.message_en, refusal=refusal.as_json())
        as_of = await replica_as_of(tx)
        serials = [await _allocate_serial(tx, f"{today:%Y%m%d}") for _ in range(copies)]
    fee = fee_for(core, kind)
    rendered = await asyncio.gather(*(_render(core, [person], serial, now) for serial in serials))
    issued: list[Issued] = []
    async with core.db.transaction() as tx:
        for serial, doc in zip(serials, rendered, strict=True):
            await tx.execute(
                "INSERT INTO issuances (serial, kind, options, atena_nos, channel, terminal, session_id, fee_yen,"
                " status, mode, data_as_of, content_digest, pages, issued_at, updated_at)"
                " VALUES (?, ?, ?, ?, 'kiosk', ?, ?, ?, 'issued', ?, ?, ?, ?, ?, ?)",
                (
                    serial,
                    kind,
                    json.dumps({"scope": "self"}),
                    json.dumps([atena_no]),
                    actor.terminal,
                    session_id,
                    fee,
                    core.mode,
                    as_of,
                    doc.content_digest,
                    doc.pages,
                    to_iso(now),
                    to_iso(now),
                ),
            )
            await tx.execute("INSERT INTO issuance_documents (serial, pdf) VALUES (?, ?)", (serial, doc.pdf))
            await core.audit.append_in(
                tx, actor, "issue", "ok", atena_no, kind=kind, serial=serial, fee_yen=fee
            )
            issued.append(Issued(serial, kind, fee, doc.pages))
    core.count("issuances_total", len(issued))
    return issued


async def _render(core: ServerCore, persons: list[dict[str, Any]], serial: str, issued_at: datetime) -> Any:
    s = core.settings
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        _render_pool,
        lambda: render_juminhyo(
            persons,
            serial=serial,
            issued_at=issued_at,
            municipality_name=s.municipality_name,
            municipality_code=s.municipality_code,
            mayor_name=s.mayor_name,
            key=core.secrets.issuing_key,
        ),
    )


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


async def report_print(core: ServerCore, actor: Actor, session_id: str, serial: str, printed: bool) -> str:
    """printed -> 'printed'; print failed -> 'voided' with the fee refunded. The PDF is dropped either way."""
    new_status = "printed" if printed else "voided"
    async with core.db.transaction() as tx:
        row = await tx.fetchone(
            "SELECT status, atena_nos, fee_yen FROM issuances WHERE serial = ? AND session_id = ?",
            (serial, session_id),
        )
        if row is None:
            raise ApiError(404, ErrorCode.ISSUANCE_UNKNOWN, "no such certificate in this session")
        if row[0] != "issued":
            raise ApiError(409, ErrorCode.SESSION_STATE, f"the certificate is already {row[0]}")
        await tx.execute(
            "UPDATE issuances SET status = ?, updated_at = ? WHERE serial = ?",
            (new_status, to_iso(utc_now()), serial),
        )
        await tx.execute("DELETE FROM issuance_documents WHERE serial = ?", (serial,))
        subject = json.loads(row[1])[0]
        details: dict[str, Any] = {"serial": serial}
        if not printed:
            details["refund_yen"] = row[2]
        await core.audit.append_in(tx, actor, "print_report", new_status, subject, **details)
    return new_status
