"""``/verify``: anyone can check a certificate's QR record and whether its serial is still valid."""

from __future__ import annotations

import dataclasses

from aiohttp import web

from issuance_server.api_errors import field, json_response, read_json
from issuance_server.certificates.record import CertRecord
from issuance_server.certificates.verify import verify_text
from issuance_server.core import core_of

routes = web.RouteTableDef()


@routes.post("/verify")
async def verify(request: web.Request) -> web.Response:
    core = core_of(request)
    data = await read_json(request, core.settings.max_body_bytes)
    text = field(data, "qr_text", str)
    outcome = verify_text(text, core.secrets.issuing_public_key)
    if not outcome.valid or outcome.record is None:
        return json_response({"result": "INVALID", "reason": outcome.reason})
    row = await core.db.fetchone("SELECT status FROM issuances WHERE serial = ?", (outcome.record.serial,))
    status = row[0] if row else "unknown"
    record = outcome.record
    result = (
        "VALID"
        if status in ("issued", "printed")
        else ("VOIDED" if status in ("voided", "refunded") else "UNKNOWN_SERIAL")
    )
    return json_response({"result": result, "serial_status": status, "record": record_fields(record)})


def record_fields(record: CertRecord) -> dict[str, object]:
    return dataclasses.asdict(record)
