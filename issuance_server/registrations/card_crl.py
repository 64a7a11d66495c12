"""Keeping the card CA's CRL (and the smartphone CA's) current: fetched at start and every
``card_crl_refresh_s`` from ``settings.crl_source`` (``phone_crl_source``; registry_sim stands in for
J-LIS); a fetch that fails keeps the list held, which is used until ``card_crl_max_stale_s`` past its
nextUpdate (then kiosks are refused, see CardTrust)."""

from __future__ import annotations

import asyncio
import logging

from issuance_server.core import ServerCore
from issuance_server.registrations.card_auth import CardTrust
from wire.http_client import AsyncHttpClient
from wire.http_json import HttpError

log = logging.getLogger("konbini.card_crl")


# Kept-alive connections are dropped after this long idle, before a server would close them under a fetch.
_KEEPALIVE_S = 15.0


def crl_client(core: ServerCore, url: str, timeout_s: float = 5.0) -> AsyncHttpClient:
    """An HTTP client for the CRL's source. The registry (J-LIS's stand-in) publishes it: reached like the
    registry, with the link's TLS. Kept for the refresh loop's life, so that refreshes a few seconds apart
    (tests, demos) reuse the connection instead of a TLS handshake each."""
    same_host = core.registry_ssl is not None and url.startswith(core.settings.registry_url.rstrip("/"))
    context = core.registry_ssl if same_host else None
    return AsyncHttpClient(url, context, timeout_s, keepalive_s=_KEEPALIVE_S)


async def refresh_crl(
    core: ServerCore, url: str, http: AsyncHttpClient | None = None, trust: CardTrust | None = None
) -> bool:
    """Fetch the CRL of ``trust``'s CA (default the card CA) and hold it if it is valid (``http``: the loop's
    client; default a client of its own)."""
    trust = trust or core.card_trust
    if http is None:
        async with crl_client(core, url) as own:
            return await refresh_crl(core, url, own, trust)
    try:
        status, der, _ = await http.request("GET", "")
        if status != 200:
            log.warning("%s CRL not fetched from %s: HTTP %d", trust.what, url, status)
            return False
        before = trust.crl
        held = trust.load_crl(der)
    except HttpError as exc:
        log.warning("%s CRL not fetched from %s: %s", trust.what, url, exc.code)
        return False
    except ValueError as exc:
        log.error("%s CRL from %s refused: %s", trust.what, url, exc)
        return False
    # said once per new list, not at every refresh (tests and demos refresh every second)
    level = logging.DEBUG if held == before else logging.INFO
    log.log(
        level, "%s CRL current: %d revoked, next update %s",
        trust.what, len(held.revoked), held.next_update.isoformat(),
    )  # fmt: skip
    return True


async def crl_loop(core: ServerCore, url: str, trust: CardTrust | None = None) -> None:
    async with crl_client(core, url) as http:
        while True:
            await asyncio.sleep(core.settings.card_crl_refresh_s)
            await refresh_crl(core, url, http, trust)
