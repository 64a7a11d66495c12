"""An in-process server over TLS with a small replica, a test card CA, a clerk and an enrolled kiosk:
``env.client`` presents no client certificate (staff, ops, public routes), ``env.kiosk`` presents the
certificate of kiosk ``kiosk-t1`` from the server's kiosk CA."""

from __future__ import annotations

import asyncio
import base64
import functools
import shutil
import ssl
import time as _time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import TCPConnector
from aiohttp.test_utils import TestClient, TestServer
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from devices.card.virtual.ca import init_ca, issue_card, load_ca
from devices.card.virtual.state import load_state, own_rsa_key
from issuance_server.app import make_app
from issuance_server.core import CORE, ServerCore
from issuance_server.http_server import RouteAccessLogger
from issuance_server.issuing.eligibility import kiosk_fiscal_years
from issuance_server.replica import store as replica_store
from issuance_server.replica.generations import unfenced
from issuance_server.server_tls import ensure_server_tls
from issuance_server.settings import Settings, load_settings
from issuance_server.staff import second_factor
from issuance_server.staff.bootstrap import bootstrap_staff
from issuance_server.storage.migrate import prepare_database
from konbini_demo import authenticator
from konbini_demo.authenticator import Authenticator
from tests.factories import household, resident, seal, tax
from wire.card_identity import (
    SEX_CODES,
    CardIdentity,
    basic_four_file,
    challenge_digest,
    registration_body,
    signature_file,
)
from wire.clock import jst_now, utc_now_iso
from wire.credentials import PHONE_FORMS
from wire.kiosk_api import API_PREFIX, auth_message
from wire.linkage import FIELDS_BY_TYPE
from wire.tls import client_context, key_pem, kiosk_key_request

STAFF_PASSWORD = "test-staff-password-01"
PIN = "4321"
PHONE_PIN = "8642"  # the phones' own PIN (an Android phone's JPKI PIN), registered when linked


@dataclass
class TestCard:
    __test__ = False  # not a test class: a card (or phone) the tests present
    cert_der: bytes
    key: rsa.RSAPrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message, padding.PKCS1v15(), hashes.SHA256())


@functools.cache
def card_identity_key() -> rsa.RSAPrivateKey:
    """The identity application's key of the test cards: one for all, since the server keeps none (it checks
    the key's signature on the challenge, and the CA's over the key), and a key takes ~50 ms to make."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def make_card(ca_dir: Path, out: Path, pin: str = PIN) -> TestCard:
    issue_card(ca_dir, out, pin=pin)
    return load_card(out)


def load_card(path: Path) -> TestCard:
    state = load_state(path)
    return TestCard(state.certificate_der, own_rsa_key(state.private_key_pem, "authentication key"))


async def load_replica(core: ServerCore, records: list[dict[str, Any]], seq: int = 1) -> None:
    name = core.replica.new_generation(f"test{seq}")
    writer = core.replica.writer(name)
    for rec in records:
        writer.insert(rec["t"], [tuple(rec[f] for f in FIELDS_BY_TYPE[rec["t"]])])
    await asyncio.to_thread(writer.finish, {"seq": str(seq)})
    await core.replica.switch_to(name, seq, utc_now_iso(), utc_now_iso(), unfenced)


async def enrol_kiosk(
    ops: TestClient, ops_token: str, kiosk_id: str, folder: Path, server_ca: Path
) -> ssl.SSLContext:
    """Enrol a kiosk as ``konbini-ops kiosk-add`` does; the client context that presents its certificate."""
    key, csr = kiosk_key_request(kiosk_id)
    resp = await ops.post(
        "/ops/api/kiosks",
        json={"kiosk_id": kiosk_id, "csr": csr},
        headers={"Authorization": f"Bearer {ops_token}"},
    )
    assert resp.status == 201, await resp.text()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{kiosk_id}.crt").write_text((await resp.json())["certificate"])
    (folder / f"{kiosk_id}.key").write_bytes(key_pem(key))
    return client_context(server_ca, folder / f"{kiosk_id}.crt", folder / f"{kiosk_id}.key")


async def enrol_staff(
    client: TestClient, staff_id: str, password: str = STAFF_PASSWORD
) -> tuple[Authenticator, str]:
    """Enrol a staff member's second factor through the API, as a person does at first login: their
    authenticator and the session token the confirmation opens."""
    resp = await client.post("/clerk/api/totp/enrol", json={"staff_id": staff_id, "password": password})
    assert resp.status == 200, await resp.text()
    device = Authenticator((await resp.json())["secret"])
    resp = await client.post(
        "/clerk/api/totp/confirm",
        json={"staff_id": staff_id, "password": password, "totp_code": device.code()},
    )
    assert resp.status == 200, await resp.text()
    return device, (await resp.json())["token"]


@dataclass
class Env:
    client: TestClient
    kiosk: TestClient
    kiosk_ssl: ssl.SSLContext
    core: ServerCore
    settings: Settings
    kiosk_headers: dict[str, str]
    clerk_headers: dict[str, str]
    card: TestCard
    tmp: Path
    authenticator: Authenticator  # clerk1's second factor

    async def login(self, staff_id: str = "clerk1", password: str = STAFF_PASSWORD, **second: str) -> Any:
        """A staff login; clerk1's next TOTP code unless ``totp_code`` or ``recovery_code`` is given."""
        if not second:
            second = {"totp_code": self.authenticator.code() if staff_id == "clerk1" else "000000"}
        return await self.client.post(
            "/clerk/api/login", json={"staff_id": staff_id, "password": password, **second}
        )

    async def add_staff(self, staff_id: str, roles: str, seed: str | None = None) -> dict[str, str]:
        """A staff member with ``roles`` (clerk1's password, second factor enrolled), logged in: their
        Authorization header."""
        seed = seed or second_factor.new_seed()
        row = await self.core.db.fetchone("SELECT password_hash FROM staff WHERE staff_id = 'clerk1'")
        assert row is not None
        await self.core.db.execute(
            "INSERT INTO staff (staff_id, display_name, roles, password_hash, created_at, totp_secret)"
            " VALUES (?, 'x', ?, ?, '2026-11-30T00:00:00Z', ?)",
            (staff_id, roles, row["password_hash"],
             second_factor.seal(self.core.secrets.totp_key, staff_id, seed)),
        )  # fmt: skip
        resp = await self.client.post(
            "/clerk/api/login",
            json={"staff_id": staff_id, "password": STAFF_PASSWORD, "totp_code": Authenticator(seed).code()},
        )
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}

    def later(self, seconds: float) -> None:
        """The kiosk sessions' and the issue claims' clocks moved ``seconds`` on (the rest of the server's
        is left alone)."""
        earlier, wall = self.core.sessions.now, self.core.wall_clock
        self.core.sessions.now = lambda: earlier() + seconds
        self.core.wall_clock = lambda: wall() + seconds

    async def open_session(self, headers: dict[str, str] | None = None) -> dict[str, Any]:
        resp = await self.kiosk.post(f"{API_PREFIX}/sessions", headers=headers or self.kiosk_headers)
        assert resp.status == 201, await resp.text()
        return dict(await resp.json())

    def auth_body(
        self,
        session: dict[str, Any],
        card: TestCard | None = None,
        pin: str | None = PIN,
        kiosk_id: str = "kiosk-t1",
    ) -> dict[str, Any]:
        """``pin`` None: left out (a phone that verified its owner itself)."""
        card = card or self.card
        msg = auth_message(kiosk_id, session["session_id"], session["nonce"])
        return {
            "nonce": session["nonce"],
            "certificate": base64.b64encode(card.cert_der).decode(),
            "signature": base64.b64encode(card.sign(msg)).decode(),
            **({} if pin is None else {"pin": pin}),
        }

    async def authenticate(self, session: dict[str, Any], **kw: Any) -> Any:
        return await self.kiosk.post(
            f"{API_PREFIX}/sessions/{session['session_id']}/authenticate",
            json=self.auth_body(session, **kw),
            headers=self.kiosk_headers,
        )

    async def buy(self, session: dict[str, Any], body: dict[str, Any], reference: str = "pay-1") -> Any:
        """Quote, then issue the quote as paid (what a kiosk does around its payment device): the issue
        response, or the quote's own when the quote is refused."""
        base = f"{API_PREFIX}/sessions/{session['session_id']}"
        quote = await self.kiosk.post(f"{base}/quotes", json=body, headers=self.kiosk_headers)
        if quote.status != 201:
            return quote
        quote_id = (await quote.json())["quote_id"]
        return await self.kiosk.post(
            f"{base}/certificates",
            json={"quote_id": quote_id, "payment_reference": reference},
            headers=self.kiosk_headers,
        )

    async def register(
        self, atena_no: str, card: TestCard, pin: str = PIN, identity: CardIdentity | None = None
    ) -> Any:
        """Register ``card`` for the resident, as the desk does: a challenge from the server, signed by the
        card's authentication key and by its identity application, whose files (unless ``identity`` says
        otherwise) hold the resident's record, signed by the test card CA as the issuer."""
        asked = await self.client.post("/clerk/api/registrations/challenge", headers=self.clerk_headers)
        challenge = base64.b64decode((await asked.json())["challenge"])
        body = self.registration(atena_no, card, pin, identity or await self.identity_of(atena_no), challenge)
        return await self.client.post("/clerk/api/registrations", json=body, headers=self.clerk_headers)

    def registration(
        self, atena_no: str, card: TestCard, pin: str, identity: CardIdentity, challenge: bytes
    ) -> dict[str, Any]:
        ca_key, _ = load_ca(self.tmp / "card-ca")
        assert isinstance(ca_key, rsa.RSAPrivateKey)
        identity_key = card_identity_key()
        basic_four = basic_four_file(identity)
        signed = signature_file(basic_four, ca_key, identity_key.public_key())
        digest = challenge_digest(challenge)
        sign = lambda key: key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))  # noqa: E731
        files = (basic_four, signed, sign(identity_key))
        return registration_body(atena_no, pin, challenge, card.cert_der, sign(card.key), files)

    def phone(self, form: str) -> TestCard:
        """The test phone of ``form`` (android or iphone) from the smartphone CA."""
        return load_card(self.tmp / "cards" / f"{form}.json")

    async def link_phone(
        self, atena_no: str, phone: TestCard, card: TestCard | None = None, card_pin: str = PIN,
        phone_pin: str = PHONE_PIN,
    ) -> Any:  # fmt: skip
        """Link ``phone`` at the desk: the resident's card (after its PIN) and the phone sign a challenge."""
        card = card or self.card
        asked = await self.client.post("/clerk/api/registrations/challenge", headers=self.clerk_headers)
        challenge = base64.b64decode((await asked.json())["challenge"])
        digest = challenge_digest(challenge)

        def sign(key: rsa.RSAPrivateKey) -> str:
            return base64.b64encode(key.sign(digest, padding.PKCS1v15(), Prehashed(hashes.SHA256()))).decode()

        body = {
            "atena_no": atena_no, "challenge": base64.b64encode(challenge).decode(),
            "card_certificate": base64.b64encode(card.cert_der).decode(), "card_signature": sign(card.key),
            "card_pin": card_pin, "phone_certificate": base64.b64encode(phone.cert_der).decode(),
            "phone_signature": sign(phone.key), "phone_pin": phone_pin,
        }  # fmt: skip
        return await self.client.post(
            "/clerk/api/registrations/phones", json=body, headers=self.clerk_headers
        )

    async def identity_of(self, atena_no: str) -> CardIdentity:
        """The identity a card issued to this resident holds (a stranger's, if there is no such resident)."""
        person = await self.core.db.read(lambda tx: replica_store.resident(tx, atena_no))
        if person is None:
            return CardIdentity("不明　氏名", "不明", "1900-01-01", "3")
        sex = SEX_CODES.get(person["sex"], "3")
        return CardIdentity(person["name"], person["address"], person["birth_date"], sex)


def city() -> list[dict[str, Any]]:
    """A small synthetic city with one person for each rule the kiosk applies."""
    fy = kiosk_fiscal_years(jst_now().date())
    h2 = {"household_no": "1000000109"}
    return [
        household("1000000101", "0000000101"),
        resident("0000000101"),
        resident(
            "0000000102",
            name="𠮷田　花子",
            name_kana="よしだ　はなこ",
            birth_date="2015-05-05",
            relationship="子",
            household_no="1000000101",
        ),
        resident("0000000103", name="転出　予定", moveout_planned_date="2026-12-20"),
        resident("0000000104", name="印字\U000f0001　不可"),  # a private-use character no font has
        resident("0000000106", name="異動　中", in_transition=1),
        resident("0000000107", name="支援　措置", support_measure=1),
        resident("0000000108", name="消除　済", status="removed", removal_reason="died"),
        resident("0000000109", name="世帯　主", **h2),
        resident("0000000110", name="世帯　転出", moveout_planned_date="2027-01-10", relationship="子", **h2),
        resident("0000000111", name="印鑑　廃止"),
        seal("S0000101", "0000000101"),
        seal("S0000111", "0000000111", status="abolished"),
        tax("0000000101", fy[0]),
        tax("0000000101", fy[1], no_return_filed=1),
        tax("0000000101", fy[2], not_resident_jan1=1),
        tax("0000000101", fy[3], unpaid=12_000),
    ]


class SteppedClock:
    """Wall-clock time that moves on by itself where a TOTP code would have to wait for its step: the
    server's code check and the tests' authenticators read it, in this process, instead of ``time``."""

    def __init__(self) -> None:
        self.ahead_s = 0.0

    def time(self) -> float:
        return _time.time() + self.ahead_s

    def sleep(self, seconds: float) -> None:
        self.ahead_s += seconds


@pytest.fixture(autouse=True)
def totp_clock(monkeypatch: pytest.MonkeyPatch) -> SteppedClock:
    """Each code accepted once, in a 30 s step, means a third login in a step waits for the next one; here the
    clock moves on instead (the rule itself is unchanged, and tested in test_staff_second_factor)."""
    clock = SteppedClock()
    monkeypatch.setattr(second_factor, "time", clock)
    monkeypatch.setattr(authenticator, "time", clock)
    return clock


@pytest.fixture(scope="session")
def card_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test card CA and the resident's card, made once a session (three RSA-2048 keys); each test gets a
    copy of both, which it may change (revoke, re-sign the CRL) without touching another's."""
    root = tmp_path_factory.mktemp("card-template")
    init_ca(root / "card-ca")
    issue_card(root / "card-ca", root / "cards" / "c1.json", pin=PIN)
    init_ca(root / "phone-ca", phone=True)  # and a phone of each form (スマホ用電子証明書)
    for form in PHONE_FORMS:
        issue_card(root / "phone-ca", root / "cards" / f"{form}.json", pin=PHONE_PIN, form=form)
    return root


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty SQLite database at this code's schema, migrated once a session: each test's server starts
    on a copy (``CREATE DATABASE ... TEMPLATE``'s counterpart; 23 migrations take ~25 ms a database)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "konbini.sqlite3"
    prepare_database(path)
    return path


@pytest.fixture
async def env(
    database_url: str, tmp_path: Path, aiohttp_client: Any, card_template: Path, sqlite_template: Path
) -> Env:
    ca_dir = tmp_path / "card-ca"
    shutil.copytree(card_template / "card-ca", ca_dir)
    shutil.copytree(card_template / "phone-ca", tmp_path / "phone-ca")
    shutil.copytree(card_template / "cards", tmp_path / "cards")
    settings = load_settings(
        env={},
        data_dir=tmp_path / "var",
        card_ca_cert=ca_dir / "ca.crt",
        phone_ca_cert=tmp_path / "phone-ca" / "ca.crt",
        argon2_memory_kib=1024,
        argon2_time_cost=1,
        service_hours="00:00-24:00",  # tests run at any hour
        closed_days="",
        registry_link=False,  # no registry here; tests/e2e run the link against registry_sim
        kiosk_max_open_sessions=1000,  # tests open many sessions from one kiosk; test_kiosk_tls checks the limits
        kiosk_session_opens_per_minute=100_000,
        database_url=database_url,
    )
    if not database_url:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sqlite_template, settings.db_path)
    bootstrap_staff(settings, "clerk1", "テスト職員", STAFF_PASSWORD, ["registrar", "counter"])
    tls = ensure_server_tls(settings)
    server = TestServer(make_app(settings))
    await server.start_server(ssl=tls.context(), access_log_class=RouteAccessLogger)  # as konbini-server
    client = await aiohttp_client(server, connector=TCPConnector(ssl=client_context(tls.city_ca_path)))
    core = client.app[CORE]
    await load_replica(core, city())
    kiosk_ssl = await enrol_kiosk(
        client, core.secrets.ops_token, "kiosk-t1", tmp_path / "kiosks", tls.city_ca_path
    )
    kiosk = await aiohttp_client(server, connector=TCPConnector(ssl=kiosk_ssl))
    authenticator, clerk_token = await enrol_staff(client, "clerk1")
    card = load_card(tmp_path / "cards" / "c1.json")
    e = Env(
        client,
        kiosk,
        kiosk_ssl,
        core,
        settings,
        {"X-Kiosk-Id": "kiosk-t1"},
        {"Authorization": f"Bearer {clerk_token}"},
        card,
        tmp_path,
        authenticator,
    )
    resp = await e.register("0000000101", card)
    assert resp.status == 201, await resp.text()
    return e
