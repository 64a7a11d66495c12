"""The one asynchronous HTTP client base (aiohttp): a session made on first use and kept for the client's
life (its connections reused), one place for what an unreachable server becomes, and the JSON answers of
our servers read as :mod:`wire.http_json` reads them.

Subclasses add the calls of their API: the kiosk's (:mod:`wire.kiosk_client`), the desk's
(``registration.desk.server_api``), the registry link's (``recovery.registry_client``).
"""

from __future__ import annotations

import ssl
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from wire.http_json import HttpError, error_answer, json_answer


class AsyncHttpClient:
    """``base_url`` https:// trusts ``ssl_context`` (with a client certificate, if it holds one), else the
    system's CAs; ``headers`` go with every request; ``keepalive_s``: how long an idle connection is kept
    (aiohttp's default otherwise)."""

    def __init__(
        self,
        base_url: str,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = 30.0,
        headers: Mapping[str, str] | None = None,
        json_serialize: Callable[[Any], str] | None = None,
        keepalive_s: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._ssl: ssl.SSLContext | bool = ssl_context if ssl_context is not None else True
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._headers = dict(headers or {})
        self._json_serialize = json_serialize
        self._keepalive_s = keepalive_s
        self._http: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> AsyncHttpClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            extra: dict[str, Any] = {"json_serialize": self._json_serialize} if self._json_serialize else {}
            if self._keepalive_s is None:
                connector = aiohttp.TCPConnector(ssl=self._ssl)
            else:
                connector = aiohttp.TCPConnector(ssl=self._ssl, keepalive_timeout=self._keepalive_s)
            self._http = aiohttp.ClientSession(
                headers=self._headers, timeout=self._timeout, connector=connector, **extra
            )
        return self._http

    def unreachable(self, path: str, exc: BaseException) -> Exception:
        """What a request that got no answer raises (the server's clients: ``server_unreachable``)."""
        return HttpError(0, "server_unreachable", f"cannot reach {self.base_url}: {exc!r}")

    async def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, bytes, str]:
        """(status, body, content type) of ``method`` on ``base_url + path``; ``body`` is sent as JSON."""
        try:
            async with self._session().request(
                method, self.base_url + path, json=body, params=query, headers=headers
            ) as resp:
                return resp.status, await resp.read(), resp.content_type
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise self.unreachable(path, exc) from exc

    async def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """A JSON request; an error answer raises :class:`HttpError` with the server's code and message."""
        status, data, ctype = await self.request(method, path, body, query, headers)
        return json_answer(status, data, ctype, path)

    async def fetch(
        self, path: str, query: Mapping[str, str] | None = None, headers: Mapping[str, str] | None = None
    ) -> tuple[bytes, str]:
        """A GET of a document: (its bytes, its content type); an error answer raises :class:`HttpError`."""
        status, data, ctype = await self.request("GET", path, None, query, headers)
        if status >= 400:
            raise error_answer(status, data)
        return data, ctype
