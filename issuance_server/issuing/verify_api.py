"""``/verify``: anyone can check a certificate's QR record and whether its serial is still valid.

``POST /verify`` (JSON, for programs such as ``konbini-verify --server``) and ``GET /verify?qr=<text>``
(an HTML page, ja + en, for a person who scanned the QR code; without ``qr``, a small form).
"""

from __future__ import annotations

from functools import partial
from typing import Final

from aiohttp import web

from issuance_server.access import PUBLIC, allow
from issuance_server.api_errors import field, json_response, read_json
from issuance_server.certificates.verify_page import Status, choose_language, form_page, result_page
from issuance_server.core import ServerCore, core_of
from issuance_server.issuing import store
from wire.cert_qr import verify_text
from wire.cert_record import CertRecord

routes = web.RouteTableDef()

MAX_QR_TEXT: Final = 2048  # a record is ~250 characters; longer input is not ours
PAGE_HEADERS: Final = {
    "Cache-Control": "no-store",  # the page shows a person's name and address
    "Vary": "Accept-Language",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none';"
        " base-uri 'none'"
    ),
}


async def serial_result(core: ServerCore, record: CertRecord) -> tuple[str, str]:
    """(VALID | VOIDED | UNKNOWN_SERIAL, the issuance's status or 'unknown') for a verified record."""
    status = await core.db.read(partial(store.status_of, serial=record.serial)) or "unknown"
    if status in ("issued", "printed"):
        return "VALID", status
    if status in ("voided", "refunded"):
        return "VOIDED", status
    return "UNKNOWN_SERIAL", status


@routes.post("/verify")
@allow(PUBLIC)
async def verify(request: web.Request) -> web.Response:
    core = core_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    text = field(data, "qr_text", str)
    outcome = verify_text(text, core.secrets.issuing_public_key)
    if not outcome.valid or outcome.record is None:
        return json_response({"result": "INVALID", "reason": outcome.reason})
    result, status = await serial_result(core, outcome.record)
    return json_response({"result": result, "serial_status": status, "record": record_fields(outcome.record)})


@routes.get("/verify/{record}")
@allow(PUBLIC)
async def verify_link(request: web.Request) -> web.Response:
    """The page a phone opens from the printed QR code: the signed record is the path's last segment."""
    return await _page(request, request.match_info["record"], from_query=False)


@routes.get("/verify")
@allow(PUBLIC)
async def verify_page(request: web.Request) -> web.Response:
    return await _page(request, request.query.get("qr", ""), from_query=True)


async def _page(request: web.Request, text: str, from_query: bool) -> web.Response:
    core = core_of(request)
    name = core.settings.municipality_name
    language = choose_language(request.query.get("lang"), request.headers.get("Accept-Language"))
    text = text.strip()
    if not text:
        return _html(form_page(name, language))
    status: Status = "unconfirmed"
    record = None
    if len(text) <= MAX_QR_TEXT:
        outcome = verify_text(text, core.secrets.issuing_public_key)
        if outcome.valid and outcome.record is not None:
            result, _ = await serial_result(core, outcome.record)
            if result != "UNKNOWN_SERIAL":
                status, record = ("valid" if result == "VALID" else "voided"), outcome.record
    kept = text if from_query and len(text) <= MAX_QR_TEXT else ""
    return _html(result_page(status, record, name, language, kept))


def _html(body: str) -> web.Response:
    return web.Response(text=body, content_type="text/html", charset="utf-8", headers=PAGE_HEADERS)


def record_fields(record: CertRecord) -> dict[str, object]:
    return record._asdict()
