"""A kiosk with a software card (no PC/SC) for load, fault and recovery scenarios over the real kiosk API.
The card-reader path itself is exercised through pcscd + vpcd by the kiosk command."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import secrets
import sqlite3
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card.virtual.ca import issue_card
from devices.card.virtual.state import load_state, own_rsa_key
from konbini_demo.stack import Stack
from wire.card_identity import challenge_digest, registration_body
from wire.http_json import HttpError
from wire.kiosk_api import auth_message
from wire.kiosk_client import KioskClient, KioskCredentials

ELIGIBLE = (
    "SELECT atena_no FROM {table} WHERE status = 'resident' AND in_transition = 0 AND support_measure = 0"
    " AND moveout_planned_date IS NULL AND birth_date < '1990-01-01' ORDER BY atena_no LIMIT {limit}"
)


def eligible_adults(stack: Stack, n: int) -> list[str]:
    """Residents a kiosk serves (adult, no flags), from the server's replica (its file, or its schema)."""
    if stack.database_url:
        import psycopg

        with psycopg.connect(stack.database_url) as pg:
            [(generation,)] = pg.execute("SELECT replica_file FROM sync_state").fetchall()
            table = f'"{generation}".resident'
            return [r[0] for r in pg.execute(ELIGIBLE.format(table=table, limit=int(n))).fetchall()]
    replica = next((stack.server_dir / "replica").glob("replica-*.sqlite3"))
    conn = sqlite3.connect(f"file:{replica}?mode=ro", uri=True)
    try:
        rows = conn.execute(ELIGIBLE.format(table="resident", limit=int(n))).fetchall()
    finally:
        conn.close()
    return [r[0] for r in rows]


class SoftKiosk:
    def __init__(self, stack: Stack, atena_no: str, pin: str = "1357", name: str = "soft") -> None:
        card_file = stack.root / "cards" / f"{name}-{atena_no}.json"
        if not card_file.exists():
            issue_card(stack.ca_dir, card_file, pin, identity=stack.resident_identity(atena_no))
        state = load_state(card_file)
        self.identity = state.identity
        key = own_rsa_key(state.private_key_pem, "authentication key")
        self.key, self.cert, self.pin, self.atena_no = key, state.certificate_der, pin, atena_no
        self.creds = KioskCredentials.load(stack.kiosk_credentials)
        self.stack = stack

    def register(self) -> None:
        clerk = self.stack.server_client()
        clerk.headers["Authorization"] = f"Bearer {self.stack.staff_token()}"
        if self.identity is None:
            raise ValueError(f"the soft card of {self.atena_no} has no identity application: make it again")
        challenge = base64.b64decode(clerk.call("POST", "/clerk/api/registrations/challenge")["challenge"])
        digest = challenge_digest(challenge)  # both of the card's keys sign it, as at the desk
        identity_key = own_rsa_key(self.identity.private_key_pem, "identity key")
        signed = [
            key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))
            for key in (self.key, identity_key)
        ]
        files = (self.identity.basic_four, self.identity.signature, signed[1])
        clerk.call("POST", "/clerk/api/registrations",
                   registration_body(self.atena_no, self.pin, challenge, self.cert, signed[0], files))  # fmt: skip

    def session(self, kind: str = "juminhyo", out: Path | None = None, **choices: Any) -> dict[str, Any]:
        """One whole session (quote, pay, issue, fetch, print report, end); returns {"serial", "pdf"} or
        {"error": code, "refusal": ...}. Synchronous, so benches can run many from threads."""
        return asyncio.run(self._session(kind, out, **choices))

    async def _session(self, kind: str, out: Path | None, **choices: Any) -> dict[str, Any]:
        async with KioskClient(self.creds) as api:
            s = await api.open_session()
            sid = s["session_id"]
            try:
                sig = self.key.sign(
                    auth_message(api.kiosk_id, sid, s["nonce"]), padding.PKCS1v15(), hashes.SHA256()
                )
                await api.authenticate(sid, s["nonce"], self.cert, sig, self.pin)
                await api.menu(sid)
                quote = await api.quote(sid, kind, **choices)
                issued = await api.issue(sid, quote["quote_id"], f"soft-{secrets.token_hex(6)}")
                serial = issued["certificates"][0]["serial"]
                pdf = await api.fetch_pdf(sid, serial)
                await api.report_print(sid, serial, True)
                if out is not None:
                    out.mkdir(parents=True, exist_ok=True)
                    (out / f"certificate-{serial}.pdf").write_bytes(pdf)
                return {"serial": serial, "pdf": pdf}
            except HttpError as exc:
                return {"error": exc.code, "refusal": exc.body.get("refusal"), "status": exc.status}
            finally:
                with contextlib.suppress(HttpError):
                    await api.end_session(sid)
