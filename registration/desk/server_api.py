"""The desk app's client of the issuance server's clerk API (aiohttp, trusting only the city's server
CA): every error answer raises :class:`wire.http_json.HttpError` with the server's stable code."""

from __future__ import annotations

import ssl
from typing import Any

from wire.http_client import AsyncHttpClient


class ServerApi:
    """The clerk API as the logged-in staff member (``token``: their session's bearer token)."""

    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None, timeout_s: float = 30.0) -> None:
        self._http = AsyncHttpClient(base_url, ssl_context, timeout_s)
        self.base_url = self._http.base_url

    async def close(self) -> None:
        await self._http.close()

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        return await self._http.call(method, path, body, query, _bearer(token))

    async def fetch(self, path: str, token: str, query: dict[str, str] | None = None) -> bytes:
        data, _ = await self._http.fetch(path, query, _bearer(token))
        return data


def _bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
