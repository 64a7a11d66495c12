"""Issue 31 (the print guard), the server's part: a certificate issued at a kiosk carries on its sheets a
KB2 record naming the serial and the requester, whose tag the terminal computes from the card it read."""

from __future__ import annotations

import hashlib
from pathlib import Path

from tests.server.conftest import Env
from tests.server.test_payments import authenticated, pay_and_issue, quote, url
from wire.cert_qr import extract_record_text, verify_text
from wire.cert_record import requester_tag


async def test_a_kiosk_certificate_names_its_sheet_and_the_card_that_asked_for_it(
    env: Env, tmp_path: Path
) -> None:
    session = await authenticated(env)
    q = await quote(env, session, {"kind": "juminhyo"})
    issued = await (await pay_and_issue(env, session, q["quote_id"], "dev-1")).json()
    serial = issued["certificates"][0]["serial"]
    pdf = await env.kiosk.get(url(session, f"/certificates/{serial}/pdf"), headers=env.kiosk_headers)
    path = tmp_path / "c.pdf"
    path.write_bytes(await pdf.read())
    outcome = verify_text(extract_record_text(path), env.core.secrets.issuing_public_key)
    assert outcome.valid and outcome.record is not None
    record = outcome.record
    assert (record.serial, record.sheet, record.sheets) == (serial, 1, 1)
    assert record.requester_tag == requester_tag(serial, hashlib.sha256(env.card.cert_der).digest())
    other = requester_tag(serial, hashlib.sha256(b"another resident's card").digest())
    assert record.requester_tag != other
