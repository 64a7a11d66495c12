"""A small synchronous JSON-over-HTTP client for the command-line tools and the kiosk (stdlib only)."""

from __future__ import annotations

import http.client
import json
import ssl
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class HttpError(Exception):
    """The server answered with an error (``code`` from its JSON body) or could not be reached."""

    def __init__(self, status: int, code: str, message: str, body: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body or {}


@dataclass
class JsonClient:
    """``base_url`` https:// trusts ``ssl_context`` (e.g. :func:`server_ca_context`), else the system's CAs."""

    base_url: str
    headers: dict[str, str]
    timeout_s: float = 30.0
    ssl_context: ssl.SSLContext | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, bytes, str]:
        url = urllib.parse.urlsplit(self.base_url.rstrip("/") + path)
        host = url.hostname or "127.0.0.1"
        conn = (
            http.client.HTTPSConnection(host, url.port, timeout=self.timeout_s, context=self.ssl_context)
            if url.scheme == "https"
            else http.client.HTTPConnection(host, url.port, timeout=self.timeout_s)
        )
        payload = json.dumps(body).encode() if body is not None else None
        headers = {**self.headers, **({"Content-Type": "application/json"} if payload is not None else {})}
        try:
            conn.request(
                method, url.path + (f"?{url.query}" if url.query else ""), body=payload, headers=headers
            )
            resp = conn.getresponse()
            data = resp.read()
            return resp.status, data, resp.getheader("Content-Type", "")
        except OSError as exc:
            raise HttpError(0, "server_unreachable", f"cannot reach {self.base_url}: {exc}") from exc
        finally:
            conn.close()

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """A JSON request; an error answer raises :class:`HttpError` with the server's code and message."""
        status, data, ctype = self.request(method, path, body)
        return json_answer(status, data, ctype, path)

    def fetch(self, path: str) -> bytes:
        status, data, _ = self.request("GET", path)
        if status >= 400:
            raise error_answer(status, data)
        return data


def server_ca_context(server_url: str, server_ca: Path) -> ssl.SSLContext | None:
    """The context a tool uses to reach the issuance server: trusting only the city's server CA."""
    if not server_url.startswith("https://"):
        return None
    if not server_ca.exists():
        raise FileNotFoundError(
            f"the server's CA certificate {server_ca} was not found (the server writes it to"
            " <data_dir>/tls/city-ca.crt at first start; give its path with --server-ca or KONBINI_SERVER_CA)"
        )
    return ssl.create_default_context(cafile=str(server_ca))


def error_answer(status: int, data: bytes) -> HttpError:
    """The server's error answer (``{"error": {"code", "message", ...}}``) as an :class:`HttpError`."""
    try:
        parsed = json.loads(data)
    except ValueError:
        parsed = None
    err = parsed.get("error", {}) if isinstance(parsed, dict) else {}
    err = err if isinstance(err, dict) else {}
    return HttpError(
        status,
        err.get("code", f"http_{status}"),
        err.get("message", data[:200].decode(errors="replace")),
        err,
    )


def json_answer(status: int, data: bytes, ctype: str, path: str) -> dict[str, Any]:
    """A JSON object answer, or :class:`HttpError` for an error status or an answer that is not one."""
    if status >= 400:
        raise error_answer(status, data)
    try:
        parsed = json.loads(data) if "json" in ctype else None
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise HttpError(status, "bad_response", f"expected JSON from {path}, got {ctype or 'nothing'}")
    return parsed
