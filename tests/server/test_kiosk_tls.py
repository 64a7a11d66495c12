"""Mutual TLS for kiosks (in-process server over TLS): the kiosk is the one its client certificate was
enrolled as; no certificate, another kiosk's, a removed or replaced one, or one from another CA is refused
before any kiosk route runs."""

from __future__ import annotations

import asyncio
import base64
import ssl
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from devices.card.virtual.ca import init_ca
from issuance_server.app import make_app
from issuance_server.core import CORE
from issuance_server.settings import load_settings
from tests.server.conftest import Env, enrol_kiosk
from wire.kiosk_api import API_PREFIX
from wire.tls import client_context, ensure_ca, ensure_leaf, kiosk_key_request


async def code_of(resp: aiohttp.ClientResponse) -> tuple[int, str]:
    return resp.status, (await resp.json())["error"]["code"]


async def second_kiosk(env: Env, kiosk_id: str = "kiosk-t2") -> ssl.SSLContext:
    return await enrol_kiosk(
        env.client, env.core.secrets.ops_token, kiosk_id, env.tmp / "kiosks", env.core.tls.city_ca_path
    )


def ops(env: Env) -> dict[str, str]:
    return {"Authorization": f"Bearer {env.core.secrets.ops_token}"}


async def test_a_kiosk_is_known_by_its_certificate(env: Env) -> None:
    resp = await env.kiosk.post(f"{API_PREFIX}/sessions")  # no X-Kiosk-Id: the certificate says who
    assert resp.status == 201
    session_id = (await resp.json())["session_id"]
    row = await env.core.db.fetchone(
        "SELECT kiosk_id FROM kiosk_sessions WHERE session_id = ?", (session_id,)
    )
    assert row is not None and row["kiosk_id"] == "kiosk-t1"


async def test_no_client_certificate_is_refused(env: Env) -> None:
    resp = await env.client.post(f"{API_PREFIX}/sessions", headers={"X-Kiosk-Id": "kiosk-t1"})
    assert await code_of(resp) == (401, "kiosk_unauthorized")


async def test_a_certificate_for_kiosk_b_cannot_act_as_kiosk_a(env: Env) -> None:
    other = await second_kiosk(env)
    resp = await env.client.post(f"{API_PREFIX}/sessions", headers={"X-Kiosk-Id": "kiosk-t1"}, ssl=other)
    assert await code_of(resp) == (403, "kiosk_mismatch")
    resp = await env.client.post(f"{API_PREFIX}/sessions", headers={"X-Kiosk-Id": "kiosk-t2"}, ssl=other)
    assert resp.status == 201


async def test_a_removed_kiosk_is_refused_at_its_next_request(env: Env) -> None:
    session = await env.open_session()
    resp = await env.client.delete("/ops/api/kiosks/kiosk-t1", headers=ops(env))
    assert resp.status == 200 and (await resp.json())["sessions_ended"] == 1
    resp = await env.kiosk.get(f"{API_PREFIX}/sessions/{session['session_id']}/menu")
    assert await code_of(resp) == (401, "kiosk_unauthorized")
    assert await code_of(await env.client.delete("/ops/api/kiosks/kiosk-t1", headers=ops(env))) == (
        404,
        "kiosk_unknown",
    )
    listed = await (await env.client.get("/ops/api/kiosks", headers=ops(env))).json()
    assert [(k["kiosk_id"], k["active"]) for k in listed["kiosks"]] == [("kiosk-t1", False)]
    audit = await env.core.db.fetchall("SELECT action FROM audit_log WHERE action LIKE 'kiosk_%'")
    assert [r["action"] for r in audit] == ["kiosk_enrol", "kiosk_remove"]


async def test_enrolling_again_replaces_the_old_certificate(env: Env) -> None:
    renewed = await second_kiosk(env, "kiosk-t1")
    assert await code_of(await env.kiosk.post(f"{API_PREFIX}/sessions")) == (401, "kiosk_unauthorized")
    assert (await env.client.post(f"{API_PREFIX}/sessions", ssl=renewed)).status == 201


async def test_a_certificate_from_another_ca_fails_the_handshake(env: Env, tmp_path: Path) -> None:
    rogue = ensure_ca(tmp_path / "rogue", "rogue-ca", "rogue kiosk CA")
    cert, key = ensure_leaf(rogue, tmp_path / "rogue", "kiosk-t1", "kiosk-t1", client=True)
    context = client_context(env.core.tls.city_ca_path, cert, key)
    with pytest.raises(aiohttp.ClientError):
        await env.client.post(f"{API_PREFIX}/sessions", ssl=context)
    # The city CA signs servers, not kiosks: its certificates are not kiosk certificates either.
    cert, key = ensure_leaf(env.core.tls.city_ca, tmp_path / "city", "kiosk-t1", "kiosk-t1", client=True)
    with pytest.raises(aiohttp.ClientError):
        await env.client.post(
            f"{API_PREFIX}/sessions", ssl=client_context(env.core.tls.city_ca_path, cert, key)
        )


async def test_a_bad_certificate_request_is_refused(env: Env) -> None:
    for csr in (
        "not a request",
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    ):
        resp = await env.client.post(
            "/ops/api/kiosks", json={"kiosk_id": "kiosk-t3", "csr": csr}, headers=ops(env)
        )
        assert resp.status == 400 and (await resp.json())["error"]["field"] == "csr"


async def test_a_client_that_does_not_trust_the_city_ca_cannot_connect(env: Env) -> None:
    with pytest.raises(aiohttp.ClientConnectorCertificateError):
        await env.client.get("/healthz", ssl=ssl.create_default_context())


CBC_SUITES = "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA"


@pytest.mark.parametrize(("suites", "agreed"), [(CBC_SUITES, False), ("ECDHE+AESGCM", True)])
async def test_tls12_clients_get_only_aead_suites(env: Env, suites: str, agreed: bool) -> None:
    context = client_context(env.core.tls.city_ca_path)
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(suites)
    host, port = env.client.server.host, env.client.server.port
    try:
        _, writer = await asyncio.open_connection(host, port, ssl=context, server_hostname="localhost")
    except (ssl.SSLError, ConnectionResetError):  # the server's alert, or its close after it
        assert not agreed
    else:
        cipher = writer.get_extra_info("cipher")
        writer.close()
        assert agreed and cipher[1] == "TLSv1.2" and "GCM" in cipher[0], cipher


def test_plain_http_only_on_loopback(tmp_path: Path) -> None:
    assert load_settings(env={}, data_dir=tmp_path, plain_http=True).plain_http
    with pytest.raises(ValueError, match="loopback"):
        load_settings(env={}, data_dir=tmp_path, plain_http=True, host="0.0.0.0")
    with pytest.raises(ValueError, match="https"):
        load_settings(env={}, data_dir=tmp_path, registry_url="http://registry.city.example")
    assert load_settings(env={}, data_dir=tmp_path, registry_url="http://127.0.0.1")


async def test_behind_a_tls_proxy_the_forwarded_certificate_needs_the_proxy_secret(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    init_ca(tmp_path / "card-ca")
    settings = load_settings(
        env={},
        data_dir=tmp_path / "var",
        card_ca_cert=tmp_path / "card-ca" / "ca.crt",
        registry_link=False,
        plain_http=True,
    )
    client = await aiohttp_client(make_app(settings))
    core = client.app[CORE]
    _, csr = kiosk_key_request("kiosk-p1")
    resp = await client.post(
        "/ops/api/kiosks",
        json={"kiosk_id": "kiosk-p1", "csr": csr},
        headers={"Authorization": f"Bearer {core.secrets.ops_token}"},
    )
    cert = x509.load_pem_x509_certificate((await resp.json())["certificate"].encode())
    forwarded = base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()
    secret = core.secrets.proxy_secret
    assert (tmp_path / "var" / "secrets" / "proxy-secret").stat().st_mode & 0o777 == 0o600
    for headers, status in [
        ({"X-Client-Cert": forwarded, "X-Konbini-Proxy-Secret": secret}, 201),
        ({"X-Client-Cert": forwarded}, 401),  # anyone on the host could send the header
        ({"X-Client-Cert": forwarded, "X-Konbini-Proxy-Secret": secret[:-1] + "x"}, 401),
        ({"X-Client-Cert": "%%%", "X-Konbini-Proxy-Secret": secret}, 401),
        ({"X-Client-Cert": forwarded, "X-Konbini-Proxy-Secret": "é"}, 401),
    ]:
        resp = await client.post(f"{API_PREFIX}/sessions", headers=headers)
        assert resp.status == status, (headers, await resp.text())


async def test_over_tls_a_forwarded_certificate_header_is_ignored(env: Env) -> None:
    der = Path(env.tmp / "kiosks" / "kiosk-t1.crt").read_bytes()
    cert = x509.load_pem_x509_certificate(der)
    headers = {
        "X-Client-Cert": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode(),
        "X-Konbini-Proxy-Secret": env.core.secrets.proxy_secret,
    }
    resp = await env.client.post(f"{API_PREFIX}/sessions", headers=headers)
    assert await code_of(resp) == (401, "kiosk_unauthorized")


async def test_a_kiosk_holds_at_most_four_sessions_at_once(env: Env) -> None:
    env.core.sessions.max_open = load_settings(env={}).kiosk_max_open_sessions  # the default
    assert env.core.sessions.max_open == 4
    opened = [await env.open_session() for _ in range(4)]
    resp = await env.kiosk.post(f"{API_PREFIX}/sessions")
    assert await code_of(resp) == (429, "too_many_sessions")
    other = await second_kiosk(env)  # another kiosk's count is its own
    assert (await env.client.post(f"{API_PREFIX}/sessions", ssl=other)).status == 201
    await env.kiosk.delete(f"{API_PREFIX}/sessions/{opened[0]['session_id']}")
    assert (await env.kiosk.post(f"{API_PREFIX}/sessions")).status == 201


async def test_a_burst_of_session_openings_is_limited_to_thirty_a_minute(env: Env) -> None:
    env.core.sessions.opens_per_minute = load_settings(env={}).kiosk_session_opens_per_minute  # the default
    assert env.core.sessions.opens_per_minute == 30
    for _ in range(30):
        session = await env.open_session()
        await env.kiosk.delete(f"{API_PREFIX}/sessions/{session['session_id']}")
    resp = await env.kiosk.post(f"{API_PREFIX}/sessions")
    assert await code_of(resp) == (429, "session_rate_limited")
    assert 1 <= int(resp.headers["Retry-After"]) <= 61
    opened = await env.core.db.fetchone("SELECT count(*) AS n FROM audit_log WHERE action = 'session_open'")
    assert opened is not None and opened["n"] <= 30  # the refused opening wrote no audit row
    env.later(61)  # a minute later
    assert (await env.kiosk.post(f"{API_PREFIX}/sessions")).status == 201
