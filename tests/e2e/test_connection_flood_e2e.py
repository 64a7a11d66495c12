"""A flood of connections that never finish TLS (issue 27 M4), against a real server process: at most
``max_connections`` are kept, at most ``max_connections_per_source`` from one address, the rest closed
before TLS starts; the server's peak memory stays within the cap times a connection's cost above its idle
figure; kiosks are served again once the flood stops."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from konbini_demo.connection_flood import (
    PeakRss,
    close_all,
    flood,
    other_address,
    raise_fd_limit,
    rss_mib,
    still_open,
)
from konbini_demo.stack import Stack
from tests.e2e.stacks import server_only_stack
from wire.kiosk_client import KioskClient, KioskCredentials

pytestmark = pytest.mark.e2e

TOTAL, PER_SOURCE = 256, 128
CONNECTION_MIB = 0.4  # what one connection holding a TLS object costs, at most (bench_connection_flood.py)
SLACK_MIB = 40  # allocator and event-loop noise


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    settings = {"KONBINI_MAX_CONNECTIONS": str(TOTAL),
                "KONBINI_MAX_CONNECTIONS_PER_SOURCE": str(PER_SOURCE), "KONBINI_TLS_HANDSHAKE_TIMEOUT_S": "30"}  # fmt: skip
    with server_only_stack(tmp_path_factory.mktemp("flood"), settings) as stack:
        yield stack


def kiosk_opens(stack: Stack) -> bool:
    async def go() -> bool:
        async with KioskClient(KioskCredentials.load(stack.kiosk_credentials)) as api:
            return bool((await api.open_session())["session_id"])

    return asyncio.run(go())


def test_a_connection_flood_is_capped_before_tls_and_memory_stays_bounded(stack: Stack) -> None:
    attempts = min(10_000, raise_fd_limit(10_600) - 500)
    pid = stack.services["server"].proc.pid
    assert kiosk_opens(stack)
    idle = rss_mib(pid)
    with PeakRss(pid) as peak:
        held = flood("127.0.0.1", stack.server_port, attempts)
        kept = still_open(held)
    try:
        assert kept == PER_SOURCE, (kept, attempts)  # the one address's share, the rest closed
        elsewhere = other_address()
        if elsewhere is not None:  # the global cap, from a second address of this machine
            more = flood("127.0.0.1", stack.server_port, TOTAL, source=elsewhere)
            try:
                assert still_open(more) == TOTAL - PER_SOURCE
            finally:
                close_all(more)
    finally:
        close_all(held)
    assert peak.peak_mib - idle <= TOTAL * CONNECTION_MIB + SLACK_MIB, (peak.peak_mib, idle, attempts)
    assert kiosk_opens(stack)  # served again once the flood is gone
    assert "connection cap reached" in stack.services["server"].output()
