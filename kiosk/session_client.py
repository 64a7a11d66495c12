"""The kiosk's client of the server's kiosk API (wire protocol only; no server code)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wire.http_json import JsonClient
from wire.kiosk_api import API_PREFIX


@dataclass(frozen=True)
class KioskCredentials:
    kiosk_id: str
    token: str
    server: str

    @classmethod
    def load(cls, path: Path) -> KioskCredentials:
        try:
            data = json.loads(path.read_text())
            return cls(str(data["kiosk_id"]), str(data["token"]), str(data["server"]))
        except FileNotFoundError:
            raise SystemExit(
                f"error: kiosk credentials {path} not found; enrol the kiosk with konbini-ops kiosk-add"
            ) from None
        except (ValueError, KeyError) as exc:
            raise SystemExit(f"error: kiosk credentials {path} are malformed ({exc})") from None


class KioskApi:
    def __init__(self, creds: KioskCredentials, server: str | None = None) -> None:
        self.kiosk_id = creds.kiosk_id
        self.http = JsonClient(
            server or creds.server, {"X-Kiosk-Id": creds.kiosk_id, "Authorization": f"Bearer {creds.token}"}
        )

    def open_session(self) -> dict[str, Any]:
        return self.http.call("POST", f"{API_PREFIX}/sessions", {})

    def authenticate(
        self, session_id: str, nonce: str, cert_der: bytes, signature: bytes, pin: str
    ) -> dict[str, Any]:
        return self.http.call(
            "POST",
            f"{API_PREFIX}/sessions/{session_id}/authenticate",
            {
                "nonce": nonce,
                "certificate": base64.b64encode(cert_der).decode(),
                "signature": base64.b64encode(signature).decode(),
                "pin": pin,
            },
        )

    def menu(self, session_id: str) -> dict[str, Any]:
        return self.http.call("GET", f"{API_PREFIX}/sessions/{session_id}/menu")

    def issue(self, session_id: str, kind: str, copies: int = 1, **choices: Any) -> dict[str, Any]:
        """``choices``: scope, members (menu member ids), options, fiscal_year, as the kind takes them."""
        body = {"kind": kind, "copies": copies, **{k: v for k, v in choices.items() if v is not None}}
        return self.http.call("POST", f"{API_PREFIX}/sessions/{session_id}/certificates", body)

    def fetch_pdf(self, session_id: str, serial: str) -> bytes:
        return self.http.fetch(f"{API_PREFIX}/sessions/{session_id}/certificates/{serial}/pdf")

    def report_print(self, session_id: str, serial: str, printed: bool) -> dict[str, Any]:
        return self.http.call(
            "POST",
            f"{API_PREFIX}/sessions/{session_id}/certificates/{serial}/print-report",
            {"printed": printed},
        )

    def end_session(self, session_id: str) -> None:
        self.http.call("DELETE", f"{API_PREFIX}/sessions/{session_id}")
