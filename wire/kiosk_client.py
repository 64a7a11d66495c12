"""The one client of the server's kiosk API (aiohttp, asynchronous): used by the kiosk app, the scripted
``konbini-kiosk session`` and the demo's software kiosks. It can present a client certificate (mutual TLS)
and trusts a given CA for the server's certificate."""

from __future__ import annotations

import base64
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wire.http_client import AsyncHttpClient
from wire.http_json import HttpError
from wire.kiosk_api import API_PREFIX
from wire.tls import client_context


@dataclass(frozen=True)
class KioskCredentials:
    """What ``konbini-ops kiosk-add`` writes for a kiosk: its id and server, its client certificate and key
    (the server knows the kiosk by that certificate) and the CA that signed the server's certificate."""

    kiosk_id: str
    server: str
    client_cert: Path
    client_key: Path
    server_ca: Path

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
                *(path.parent / str(data[k]) for k in ("client_cert", "client_key", "server_ca")),
            )
        except FileNotFoundError:
            raise SystemExit(
                f"error: kiosk credentials {path} not found; enrol the kiosk with konbini-ops kiosk-add"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise SystemExit(f"error: kiosk credentials {path} are malformed ({exc})") from None
        for file in (creds.client_cert, creds.client_key, creds.server_ca):
            if not file.exists():
                raise SystemExit(f"error: {file} (named in {path}) not found; enrol the kiosk again")
        return creds

    def ssl_context(self) -> ssl.SSLContext:
        return client_context(self.server_ca, self.client_cert, self.client_key)


class KioskClient(AsyncHttpClient):
    """``async with KioskClient(creds) as api: ...``; every error answer raises :class:`HttpError` with the
    server's stable code; a server that cannot be reached raises it with ``server_unreachable``."""

    def __init__(self, creds: KioskCredentials, server: str | None = None, timeout_s: float = 30.0) -> None:
        super().__init__(
            (server or creds.server).rstrip("/") + API_PREFIX,
            creds.ssl_context(),
            timeout_s,
            headers={"X-Kiosk-Id": creds.kiosk_id},
        )
        self.kiosk_id = creds.kiosk_id

    async def __aenter__(self) -> KioskClient:
        return self

    async def open_session(self) -> dict[str, Any]:
        return await self.call("POST", "/sessions", {})

    async def authenticate(
        self, session_id: str, nonce: str, cert_der: bytes, signature: bytes, pin: str
    ) -> dict[str, Any]:
        body = {
            "nonce": nonce,
            "certificate": base64.b64encode(cert_der).decode(),
            "signature": base64.b64encode(signature).decode(),
            "pin": pin,
        }
        return await self.call("POST", f"/sessions/{session_id}/authenticate", body)

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

    async def report_print(self, session_id: str, serial: str, printed: bool) -> dict[str, Any]:
        return await self.call(
            "POST", f"/sessions/{session_id}/certificates/{serial}/print-report", {"printed": printed}
        )

    async def end_session(self, session_id: str) -> dict[str, Any]:
        return await self.call("DELETE", f"/sessions/{session_id}")
