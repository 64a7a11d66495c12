"""The ``GET /verify`` page: the HTML builder on its own, then through the real app."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from issuance_server.certificates.render import render_certificate
from issuance_server.certificates.verify_page import (
    catalogue,
    choose_language,
    form_page,
    languages,
    result_page,
)
from tests.certificates.conftest import ADDRESS, ISSUED_AT, NAME, request, synthetic_person
from wire.cert_record import CertRecord

RECORD = CertRecord(
    serial="20261126-000123",
    kind="inkan",
    issued_at=ISSUED_AT,
    municipality_code="462012",
    name=NAME,
    birth_date=ISSUED_AT.date().replace(year=1980, month=1, day=1),
    address=ADDRESS,
    content_digest="00" * 16,
)


def test_valid_page_shows_the_identity_fields_and_nothing_else() -> None:
    page = result_page("valid", RECORD, "鹿児島市")
    for expected in ("有効", "印鑑登録証明書", "令和8年11月26日", NAME, ADDRESS):
        assert expected in page, expected
    english = result_page("valid", RECORD, "鹿児島市", "en")
    for expected in ("Valid", "Seal registration certificate", NAME, ADDRESS, '<html lang="en">'):
        assert expected in english, expected
    assert "昭和55年1月1日（1980-01-01）" in page
    assert RECORD.content_digest not in page and "462012" not in page
    assert "<script" not in page.lower()  # works without JavaScript
    assert '<html lang="ja">' in page


def test_voided_and_unconfirmed() -> None:
    voided = result_page("voided", RECORD, "鹿児島市")
    assert "無効（取消）" in voided and NAME in voided
    unconfirmed = result_page("unconfirmed", RECORD, "鹿児島市")
    assert "確認できません" in unconfirmed and NAME not in unconfirmed  # nothing unverified is shown


def test_everything_is_escaped() -> None:
    evil = RECORD._replace(name='<script>alert("x")</script>', address="a&b <i>c</i>", serial='"><b>')
    page = result_page("valid", evil, '<img src=x onerror="y">')
    assert "<script>" not in page and "<i>" not in page and "<b>" not in page and "<img" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "a&amp;b &lt;i&gt;c&lt;/i&gt;" in page


@pytest.mark.parametrize("language", languages())
def test_the_page_speaks_each_language(language: str) -> None:
    assert set(catalogue(language)) == set(catalogue("ja"))  # every text in every language
    page = result_page("voided", RECORD, "鹿児島市", language)
    assert catalogue(language)["status.voided"] in page and catalogue(language)["field.name"] in page
    assert NAME in page  # the certificate's own contents stay as printed
    for other in languages():  # a link to every language, each named in its own language
        assert catalogue(other)["language_name"] in page


@pytest.mark.parametrize(
    ("asked", "accept", "chosen"),
    [
        ("vi", "en", "vi"),
        (None, "pt-BR,pt;q=0.9,en;q=0.5", "pt"),
        (None, "zh-TW,zh;q=0.8", "zh-Hant"),
        (None, "zh-CN", "zh-Hans"),
        (None, "fil-PH", "tl"),
        (None, "de-DE,fr;q=0.7", "ja"),
        ("xx", "ko;q=0.2,ne;q=0.9", "ne"),
        (None, "en;q=garbage", "ja"),
    ],
)
def test_the_visitors_language_is_chosen(asked: str | None, accept: str, chosen: str) -> None:
    assert choose_language(asked, accept) == chosen


def test_form_page() -> None:
    page = form_page("鹿児島市")
    assert '<form method="get" action="/verify">' in page and 'name="qr"' in page
    assert "確認する" in page and "<script" not in page.lower()


# ------------------------------------------------------------------------------ through the real app


@pytest.fixture
async def app_env(tmp_path: Path, aiohttp_client: Any) -> Any:
    from devices.card.virtual.ca import init_ca
    from issuance_server.app import make_app
    from issuance_server.core import CORE
    from issuance_server.settings import load_settings

    init_ca(tmp_path / "ca")
    settings = load_settings(
        env={}, data_dir=tmp_path / "var", card_ca_cert=tmp_path / "ca" / "ca.crt", registry_link=False
    )
    client = await aiohttp_client(make_app(settings))
    return client, client.app[CORE]


async def issue(core: Any, serial: str, status: str) -> str:
    """A rendered certificate whose issuance row has ``status``; returns its QR text."""
    cert = render_certificate(
        request("juminhyo", serial=serial, persons=[synthetic_person()]), core.secrets.issuing_key
    )
    async with core.db.transaction() as tx:
        await tx.execute(
            "INSERT INTO issuances (serial, kind, options, atena_nos, channel, terminal, session_id, fee_yen,"
            " status, mode, data_as_of, content_digest, pages, issued_at, updated_at)"
            " VALUES (?, 'juminhyo', '{}', '[\"0000000101\"]', 'kiosk', 'kiosk-t1', 's1', 300, ?, 'normal',"
            " '', ?, 1, ?, ?)",
            (serial, status, cert.content_digest, ISSUED_AT.isoformat(), ISSUED_AT.isoformat()),
        )
    return cert.record_text


async def test_page_through_the_app(app_env: Any) -> None:
    client, core = app_env
    valid = await issue(core, "20261126-000001", "printed")
    voided = await issue(core, "20261126-000002", "voided")
    unknown = render_certificate(
        request("inkan", serial="20261126-999999"), core.secrets.issuing_key
    ).record_text

    resp = await client.get("/verify")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == "no-store"
    assert "script-src" not in resp.headers["Content-Security-Policy"]  # no scripts at all
    assert 'name="qr"' in await resp.text()

    resp = await client.get("/verify", params={"qr": valid})
    page = await resp.text()
    assert resp.status == 200 and "有効" in page and NAME in page and ADDRESS in page
    assert "住民票の写し" in page and "20261126-000001" in page

    page = await (await client.get("/verify", params={"qr": voided})).text()
    assert "無効（取消）" in page and NAME in page
    korean = await (
        await client.get("/verify", params={"qr": voided}, headers={"Accept-Language": "ko-KR"})
    ).text()
    assert catalogue("ko")["status.voided"] in korean and '<html lang="ko">' in korean
    english = await (await client.get(f"/verify/{voided}", params={"lang": "en"})).text()
    assert "Void (cancelled)" in english and NAME in english

    for bad in (unknown, valid[:-4] + "AAAA", "hello", "x" * 5000):
        page = await (await client.get("/verify", params={"qr": bad})).text()
        assert "確認できません" in page and NAME not in page

    # The JSON route is unchanged.
    resp = await client.post("/verify", data=json.dumps({"qr_text": voided}))
    body = await resp.json()
    assert body["result"] == "VOIDED" and body["serial_status"] == "voided" and body["record"]["name"] == NAME
    body = await (await client.post("/verify", json={"qr_text": "hello"})).json()
    assert body == {"result": "INVALID", "reason": "malformed"}
