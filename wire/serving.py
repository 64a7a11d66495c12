"""Running an aiohttp app as a process (the server, registry_sim, the kiosk app): start listening with a
clear error, then serve until SIGTERM or SIGINT asks for a clean stop."""

from __future__ import annotations

import asyncio
import signal
import ssl

from aiohttp import web

from wire.cli import StartError


class ListenError(StartError):
    """The address cannot be listened on (in use, not this machine's, not allowed)."""


ANY_ADDRESS = ("0.0.0.0", "::", "")  # noqa: S104  names the any-address to recognise it; binds nothing


def is_any_address(host: str) -> bool:
    """``host`` means every interface (listening there is reached locally on loopback)."""
    return host in ANY_ADDRESS


LOCAL_SHUTDOWN_S = 1.0  # a local app's stop waits this long for open requests (long-polls), then cuts them


async def start_site(
    runner: web.BaseRunner, host: str, port: int, ssl_context: ssl.SSLContext | None = None
) -> None:
    await start_listening(web.TCPSite(runner, host, port, ssl_context=ssl_context), host, port)


async def start_listening(site: web.BaseSite, host: str, port: int) -> None:
    try:
        await site.start()
    except OSError as exc:
        raise ListenError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc


async def until_stopped() -> None:
    """Return once SIGTERM or SIGINT arrives (the caller then cleans up)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
