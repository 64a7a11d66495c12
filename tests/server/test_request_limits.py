"""Requests that hold the server: a body that never arrives whole gets a 408 in time; a client that goes
away mid-body costs one log line, not a traceback or a 500."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp import web

from issuance_server.api_errors import BODY_TIMEOUT, error_middleware, json_response, read_json
from issuance_server.http_server import KonbiniRunner
from konbini_demo.processes import free_port


def partial_post(path: str, declared: int, sent: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {declared}\r\n\r\n"
    ).encode() + sent


async def test_a_body_that_does_not_arrive_whole_gets_408_in_time(aiohttp_client: Any) -> None:
    async def echo(request: web.Request) -> web.Response:
        return json_response(await read_json(request, 1024))

    app = web.Application(middlewares=[error_middleware])
    app[BODY_TIMEOUT] = 0.5
    app.router.add_post("/echo", echo)
    client = await aiohttp_client(app)
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(partial_post("/echo", 200, b'{"x": 1}  '))
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
    length = int(
        next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length:")).split(b":")[1]
    )
    body = await reader.readexactly(length)
    writer.close()
    assert b" 408 " in head.split(b"\r\n")[0] and b"Connection: close" in head and b'"body_timeout"' in body


async def test_a_client_gone_mid_body_is_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    got: list[Any] = []

    async def echo(request: web.Request) -> web.Response:
        try:
            return json_response(await read_json(request, 1024))
        finally:
            got.append(True)

    app = web.Application(middlewares=[error_middleware])
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)  # as konbini-server runs: handlers are not cancelled when a client leaves
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(partial_post("/echo", 200, b'{"x": 1}'))
        await writer.drain()
        await asyncio.sleep(0.1)
        writer.transport.abort()
        for _ in range(50):
            if got:
                break
            await asyncio.sleep(0.05)
    finally:
        await runner.cleanup()
    assert got and "the client went away" in caplog.text
    assert "internal error" not in caplog.text and "Traceback" not in caplog.text


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("GET /echo?kana=" + "よしだ" * 3000 + " HTTP/1.1\r\nHost: x\r\n\r\n", "bad_request"),
        ("GET /echo?kana=yoshida" + "a" * 9000 + " HTTP/1.1\r\nHost: x\r\n\r\n", "request_too_large"),
        ("GET /echo HTTP/1.1\r\nHost: x\r\nX-Name: yoshida" + "a" * 9000 + "\r\n\r\n", "request_too_large"),
        ("G\x00T /echo?kana=yoshida HTTP/1.1\r\n\r\n", "bad_request"),
    ],
)
async def test_malformed_http_gets_a_json_error_and_leaves_no_request_text_in_the_log(
    raw: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def echo(request: web.Request) -> web.Response:
        return json_response({})

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/echo", echo)
    runner = KonbiniRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw.encode())
        answer = await asyncio.wait_for(reader.read(), timeout=5)
        writer.close()
    finally:
        await runner.cleanup()
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"400", head
    assert b"application/json" in head and b"nosniff" in head and b"aiohttp" not in head
    assert json.loads(body)["error"]["code"] == code
    assert b"yoshida" not in body and "よしだ".encode() not in body
    assert "yoshida" not in caplog.text and "よしだ" not in caplog.text and "\\xe3" not in caplog.text


async def test_a_connection_that_never_finishes_its_header_is_closed() -> None:
    async def echo(request: web.Request) -> web.Response:
        return json_response({})

    app = web.Application(middlewares=[error_middleware])
    app.router.add_get("/echo", echo)
    runner = KonbiniRunner(app, keepalive_timeout=0.5)  # header_timeout_s, shortened
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: ")  # and nothing more
        await writer.drain()
        closed = await asyncio.wait_for(reader.read(), timeout=5)  # EOF once the server gives up
        writer.close()
    finally:
        await runner.cleanup()
    assert closed == b""
