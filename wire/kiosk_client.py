"""The one client of the server's kiosk API (aiohttp, asynchronous): used by the kiosk app, the scripted
``konbini-kiosk session`` and the demo's software kiosks. It can present a client certificate (mutual TLS)
and trusts a given CA for the server's certificate."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import secrets
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from wire.http_client import AsyncHttpClient
from wire.http_json import HttpError, error_answer
from wire.kiosk_api import API_PREFIX, KIOSK_KEEPALIVE_S
from wire.print_guard import GuardRefused
from wire.tls import client_context


@dataclass(frozen=True)
class KioskCredentials:
    """What ``konbini-ops kiosk-add`` writes for a kiosk: its id and server, its client certificate and key
    (the server knows the kiosk by that certificate), the CA that signed the server's certificate, and the
    city's issuing public key, against which the kiosk's print guard checks every sheet (None in a file
    written before the guard: the kiosk app asks for a new enrolment)."""

    kiosk_id: str
    server: str
    client_cert: Path
    client_key: Path
    server_ca: Path
    issuing_key: Path | None = None

    @classmethod
    def load(cls, path: Path) -> KioskCredentials:
        """Read the credentials file; its file names are relative to its folder."""
        try:
            data = json.loads(path.read_text())
            if "client_cert" not in data:
                raise ValueError("no client certificate: enrol the kiosk again with konbini-ops kiosk-add")
            creds = cls(
                str(data["kiosk_id"]),
                str(data["server"]),
                client_cert=path.parent / str(data["client_cert"]),
                client_key=path.parent / str(data["client_key"]),
                server_ca=path.parent / str(data["server_ca"]),
                issuing_key=path.parent / str(data["issuing_key"]) if data.get("issuing_key") else None,
            )
        except FileNotFoundError:
            raise SystemExit(
                f"error: kiosk credentials {path} not found; enrol the kiosk with konbini-ops kiosk-add"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"error: kiosk credentials {path} are malformed ({exc})") from None
        for file in (creds.client_cert, creds.client_key, creds.server_ca, creds.issuing_key):
            if file is not None and not file.exists():
                raise SystemExit(f"error: {file} (named in {path}) not found; enrol the kiosk again")
        return creds

    def ssl_context(self) -> ssl.SSLContext:
        return client_context(self.server_ca, self.client_cert, self.client_key)


log = logging.getLogger("konbini.kiosk_client")
RETRY_PAUSE_S: Final = 0.25  # the first pause before a step is tried again (it grows to 2 s)


def _passing(status: int, data: bytes) -> bool:
    """An answer lost on the way (no answer, or the load balancer's: its node died mid-request or none
    serves): the step may be tried again, on whichever node answers."""
    if status in (0, 502, 504):
        return True
    return status == 503 and error_answer(status, data).code == "service_unavailable"


class KioskClient(AsyncHttpClient):
    """``async with KioskClient(creds) as api: ...``; every error answer raises :class:`HttpError` with the
    server's stable code; a server that cannot be reached raises it with ``server_unreachable``.

    ``retry_s``: for this long a step whose answer was lost is tried again (every kiosk step is safe to
    repeat: each carries an ``X-Request-Id``, the same on every try, so a repeated opening or quote gets the
    session or quote the first try made, and the server answers a repeated authenticate, issue, print report
    or end as it did the first time); 0 sends each step once."""

    def __init__(
        self,
        creds: KioskCredentials,
        server: str | None = None,
        timeout_s: float = 30.0,
        retry_s: float = 0.0,
    ) -> None:
        super().__init__(
            (server or creds.server).rstrip("/") + API_PREFIX,
            creds.ssl_context(),
            timeout_s,
            headers={"X-Kiosk-Id": creds.kiosk_id},
            keepalive_s=KIOSK_KEEPALIVE_S,  # closed here before the server's idle limit can close it
        )
        self.kiosk_id = creds.kiosk_id
        self.retry_s = retry_s
        self.retries = 0  # steps tried again, for scripts and the demo's figures

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, str]:
        end, pause = time.monotonic() + self.retry_s, RETRY_PAUSE_S
        headers = {**(headers or {}), "X-Request-Id": secrets.token_hex(12)}  # one step: the same on each try
        while True:
            try:
                answer = await super().request(method, path, body, query, headers)
            except HttpError:  # no answer at all
                if time.monotonic() + pause > end:
                    raise
            else:
                if not _passing(answer[0], answer[1]) or time.monotonic() + pause > end:
                    return answer
            self.retries += 1
            log.info("%s %s: the answer was lost; trying again", method, path.rsplit("/", 1)[-1])
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def __aenter__(self) -> KioskClient:
        return self

    async def open_session(self) -> dict[str, Any]:
        return await self.call("POST", "/sessions", {})

    async def authenticate(
        self, session_id: str, nonce: str, cert_der: bytes, signature: bytes, pin: str | None
    ) -> dict[str, Any]:
        """``pin`` None: not sent (a phone form whose PIN the city leaves to the phone)."""
        body = {
            "nonce": nonce,
            "certificate": base64.b64encode(cert_der).decode(),
            "signature": base64.b64encode(signature).decode(),
            **({} if pin is None else {"pin": pin}),
        }
        return await self.call("POST", f"/sessions/{session_id}/authenticate", body)

    async def link_phone(
        self, session_id: str, cert_der: bytes, signature: bytes, pin: str
    ) -> dict[str, Any]:
        """Link the phone that signed the session's link digest, with ``pin`` as its registered PIN."""
        body = {
            "certificate": base64.b64encode(cert_der).decode(),
            "signature": base64.b64encode(signature).decode(),
            "pin": pin,
        }
        return await self.call("POST", f"/sessions/{session_id}/phones", body)

    async def report_card_blocked(self, session_id: str, cert_der: bytes) -> dict[str, Any]:
        """The card read in this session says its PIN is blocked: the server locks its registration."""
        body = {"certificate": base64.b64encode(cert_der).decode()}
        return await self.call("POST", f"/sessions/{session_id}/card-blocked", body)

    async def menu(self, session_id: str) -> dict[str, Any]:
        return await self.call("GET", f"/sessions/{session_id}/menu")

    async def quote(self, session_id: str, kind: str, copies: int = 1, **choices: Any) -> dict[str, Any]:
        """``choices``: scope, members (menu member ids), options, fiscal_year, as the kind takes them."""
        body = {"kind": kind, "copies": copies, **{k: v for k, v in choices.items() if v is not None}}
        return await self.call("POST", f"/sessions/{session_id}/quotes", body)

    async def issue(self, session_id: str, quote_id: str, payment_reference: str) -> dict[str, Any]:
        body = {"quote_id": quote_id, "payment_reference": payment_reference}
        return await self.call("POST", f"/sessions/{session_id}/certificates", body)

    async def fetch_pdf(self, session_id: str, serial: str) -> bytes:
        data, ctype = await self.fetch(f"/sessions/{session_id}/certificates/{serial}/pdf")
        if ctype != "application/pdf":
            raise HttpError(200, "bad_response", f"expected a PDF, got {ctype or 'nothing'}")
        return data

    async def report_print(
        self, session_id: str, serial: str, printed: bool, guard: GuardRefused | None = None
    ) -> dict[str, Any]:
        """Printed or not; ``guard``: the print guard stopped it (the server voids, refunds and alarms). A
        print in doubt is reported with :meth:`report_doubt`, in its session or after it."""
        body: dict[str, Any] = {"printed": printed}
        if guard is not None:
            body["guard"] = {"finding": guard.finding.value, "sheet": guard.sheet}
        return await self.call("POST", f"/sessions/{session_id}/certificates/{serial}/print-report", body)

    async def report_doubt(self, serial: str, printed: bool | None) -> dict[str, Any]:
        """A print in doubt, after its session: what the printer finally said (``None``: mark it in doubt,
        for a kiosk that restarted and found its printer not answering)."""
        body = {"printed": False, "in_doubt": True} if printed is None else {"printed": printed}
        return await self.call("POST", f"/certificates/{serial}/print-report", body)

    async def end_session(self, session_id: str) -> dict[str, Any]:
        return await self.call("DELETE", f"/sessions/{session_id}")
