"""The desk app's client of the issuance server's clerk API (aiohttp, trusting only the city's server
CA): every error answer raises :class:`wire.http_json.HttpError` with the server's stable code."""

from __future__ import annotations

import ssl
from typing import Any

import aiohttp

from wire.http_json import HttpError, error_answer, json_answer


class ServerApi:
    def __init__(self, base_url: str, ssl_context: ssl.SSLContext | None, timeout_s: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            connector = aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True)
            self._http = aiohttp.ClientSession(timeout=self._timeout, connector=connector)
        return self._http

    async def _request(
        self,
        method: str,
        path: str,
        token: str | None,
        body: dict[str, Any] | None,
        query: dict[str, str] | None,
    ) -> tuple[int, bytes, str]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with self._session().request(
                method, self.base_url + path, json=body, params=query, headers=headers
            ) as resp:
                return resp.status, await resp.read(), resp.content_type
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise HttpError(0, "server_unreachable", f"cannot reach {self.base_url}: {exc!r}") from exc

    async def call(
        self,
        method: str,
        path: str,
        token: str | None = None,
        body: dict[str, Any] | None = None,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        status, data, ctype = await self._request(method, path, token, body, query)
        return json_answer(status, data, ctype, path)

    async def fetch(self, path: str, token: str, query: dict[str, str] | None = None) -> bytes:
        status, data, _ = await self._request("GET", path, token, None, query)
        if status >= 400:
            raise error_answer(status, data)
        return data
