"""The kiosk API client presents its client certificate to a server that requires one (mutual TLS), and
refuses a server its CA did not sign."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import ssl
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from issuance_server.settings import load_settings
from wire.http_json import HttpError
from wire.kiosk_api import API_PREFIX, KIOSK_KEEPALIVE_S
from wire.kiosk_client import KioskClient, KioskCredentials
from wire.settings import SettingsError


def _cert(name: str, key: ec.EllipticCurvePrivateKey, issuer: tuple[x509.Name, ec.EllipticCurvePrivateKey] | None,
          ca: bool = False) -> x509.Certificate:  # fmt: skip
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, issuer_key = issuer or (subject, key)
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if name == "127.0.0.1":
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None = None) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("test kiosk CA", ca_key, None, ca=True)
    _write(tmp_path / "ca.crt", ca)
    for name in ("127.0.0.1", "kiosk-007"):
        key = ec.generate_private_key(ec.SECP256R1())
        _write(tmp_path / f"{name}.crt", _cert(name, key, (ca.subject, ca_key)), key)
    other_key = ec.generate_private_key(ec.SECP256R1())
    _write(tmp_path / "other-ca.crt", _cert("another CA", other_key, None, ca=True))
    return tmp_path


async def _server(pki: Path, port: int) -> web.AppRunner:
    async def opened(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peercert") if request.transport else None
        cn = dict(x[0] for x in peer["subject"])["commonName"] if peer else None
        return web.json_response({"session_id": "s", "peer": cn}, status=201)

    app = web.Application()
    app.router.add_post(f"{API_PREFIX}/sessions", opened)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(pki / "127.0.0.1.crt", pki / "127.0.0.1.key")
    ctx.verify_mode = ssl.CERT_REQUIRED
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=ctx).start()
    return runner


def _creds(pki: Path, port: int, tmp: Path, **extra: str | None) -> KioskCredentials:
    data = {"kiosk_id": "kiosk-007", "server": f"https://127.0.0.1:{port}",
            "client_cert": str(pki / "kiosk-007.crt"), "client_key": str(pki / "kiosk-007.key"),
            "server_ca": str(pki / "ca.crt"), **extra}  # fmt: skip
    path = tmp / "creds.json"
    path.write_text(json.dumps({k: v for k, v in data.items() if v is not None}))
    return KioskCredentials.load(path)


async def test_the_client_presents_its_certificate(pki: Path, unused_tcp_port: int, tmp_path: Path) -> None:
    runner = await _server(pki, unused_tcp_port)
    try:
        async with KioskClient(_creds(pki, unused_tcp_port, tmp_path)) as api:
            assert (await api.open_session())["peer"] == "kiosk-007"
        with pytest.raises(SystemExit, match="enrol the kiosk again"):
            _creds(pki, unused_tcp_port, tmp_path, client_cert=None, client_key=None)  # a token-era file
        untrusting = _creds(pki, unused_tcp_port, tmp_path, server_ca=str(pki / "other-ca.crt"))
        async with KioskClient(untrusting) as api:
            with pytest.raises(HttpError) as exc:
                await api.open_session()  # a server our CA did not sign
            assert exc.value.code == "server_unreachable"
    finally:
        await runner.cleanup()


async def test_the_client_closes_an_idle_connection_before_the_servers_idle_limit(
    pki: Path, unused_tcp_port: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kiosk closes a connection idle for KIOSK_KEEPALIVE_S itself (shortened here), so it never sends a
    request on one the server is closing; the server's idle limit must be longer (a setting check)."""
    monkeypatch.setattr("wire.kiosk_client.KIOSK_KEEPALIVE_S", 0.3)
    ports: list[int] = []

    async def opened(request: web.Request) -> web.Response:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        ports.append(peer[1] if peer else 0)
        return web.json_response({"session_id": "s"}, status=201)

    app = web.Application()
    app.router.add_post(f"{API_PREFIX}/sessions", opened)
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.crt"))
    ctx.load_cert_chain(pki / "127.0.0.1.crt", pki / "127.0.0.1.key")
    runner = web.AppRunner(app, keepalive_timeout=60)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", unused_tcp_port, ssl_context=ctx).start()
    try:
        async with KioskClient(_creds(pki, unused_tcp_port, tmp_path)) as api:
            await api.open_session()
            await api.open_session()  # at once: the same connection
            await asyncio.sleep(1.0)  # idle longer than the kiosk keeps it
            await api.open_session()
        assert ports[0] == ports[1] != ports[2]
    finally:
        await runner.cleanup()
    with pytest.raises(SettingsError, match="header_timeout_s"):
        load_settings(env={"KONBINI_HEADER_TIMEOUT_S": str(KIOSK_KEEPALIVE_S)})
