"""Card revocation: the demo card CA publishes a CRL; the server refuses a revoked card with its own code,
and refuses every card once its CRL is older than the accepted staleness (fail closed, documented)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509

from devices.card.virtual.ca import CRL_NAME, DEFAULT_CRL_URL, init_ca, issue_card, revoke, write_crl
from devices.card.virtual.state import load_state
from issuance_server.api_errors import ApiError
from issuance_server.registrations.card_auth import CardTrust
from issuance_server.registrations.card_crl import refresh_crl
from tests.server.conftest import Env


def card(ca: Path, tmp: Path, name: str) -> bytes:
    issue_card(ca, tmp / f"{name}.json", "1234")
    return load_state(tmp / f"{name}.json").certificate_der


def trust(ca: Path, stale_s: float = 3600) -> CardTrust:
    t = CardTrust(ca / "ca.crt", crl_required=True, max_stale_s=stale_s)
    t.load_crl((ca / CRL_NAME).read_bytes())
    return t


def code(t: CardTrust, der: bytes, now: datetime) -> str:
    try:
        t.check_certificate(der, now)
    except ApiError as exc:
        return exc.code
    return "ok"


def test_a_revoked_card_is_refused_and_others_are_not(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    init_ca(ca)
    lost, kept = card(ca, tmp_path, "lost"), card(ca, tmp_path, "kept")
    now = datetime.now(UTC)
    assert code(trust(ca), lost, now) == "ok"
    revoke(ca, lost)
    t = trust(ca)
    assert code(t, lost, now) == "card_revoked" and code(t, kept, now) == "ok"
    dp = x509.load_der_x509_certificate(kept).extensions.get_extension_for_class(x509.CRLDistributionPoints)
    assert dp.value[0].full_name[0].value == DEFAULT_CRL_URL  # the card says where its CRL is


def test_without_a_current_crl_no_card_is_accepted(tmp_path: Path) -> None:
    ca = tmp_path / "ca"
    init_ca(ca)
    der = card(ca, tmp_path, "c")
    now = datetime.now(UTC)
    assert code(CardTrust(ca / "ca.crt", crl_required=True), der, now) == "card_revocation_unknown"
    t = trust(ca, stale_s=3600)  # the CRL is valid a day, then an hour of grace
    assert code(t, der, now + timedelta(days=1, minutes=30)) == "ok"
    assert code(t, der, now + timedelta(days=1, hours=2)) == "card_revocation_unknown"
    assert code(CardTrust(ca / "ca.crt"), der, now) == "ok"  # no CRL source configured: not checked


def test_a_crl_of_another_ca_is_not_taken(tmp_path: Path) -> None:
    ca, other = tmp_path / "ca", tmp_path / "other"
    init_ca(ca)
    init_ca(other)
    t = CardTrust(ca / "ca.crt", crl_required=True)
    with pytest.raises(ValueError, match="not signed"):
        t.load_crl((other / CRL_NAME).read_bytes())
    assert t.crl is None


async def test_a_crl_is_logged_once_when_it_is_new_not_at_every_refresh(
    env: Env, aiohttp_server: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ca = env.tmp / "card-ca"
    write_crl(ca)

    async def crl(_request: web.Request) -> web.Response:
        return web.Response(body=(ca / CRL_NAME).read_bytes())

    app = web.Application()
    app.router.add_get("/crl", crl)
    url = str((await aiohttp_server(app)).make_url("/crl"))
    caplog.set_level(logging.DEBUG, "konbini.card_crl")
    for _ in range(3):
        assert await refresh_crl(env.core, url)
    revoke(ca, env.card.cert_der)  # a new list: said again
    assert await refresh_crl(env.core, url)
    said = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert len(said) == 2 and said[0].startswith("card CRL current: 0 revoked") and "1 revoked" in said[1]
    assert len([r for r in caplog.records if r.levelno == logging.DEBUG]) == 2
