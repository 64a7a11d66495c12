"""Fixtures for certificate tests: a throwaway issuing key, synthetic residents, seal and tax records,
rendered certificates, and helpers that read a PDF back the way people and programs do."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.juminhyo import render_juminhyo
from issuance_server.certificates.record import JST, public_key_pem
from issuance_server.certificates.render import CertificateRequest, render_certificate
from wire.linkage import RESIDENT_FIELDS, SEAL_FIELDS, TAX_FIELDS

NAME = "𠮷田　髙志"
ADDRESS = "鹿児島市山下町11番1号"
KATAGAKI = "山下レジデンス101号"
KOJIN_BANGO = "123456789018"
JUMINHYO_CODE = "98765432109"
ISSUED_AT = datetime(2026, 11, 26, 10, 30, 15, tzinfo=JST)


def synthetic_person(**over: Any) -> dict[str, Any]:
    """A synthetic resident with every ``RESIDENT_FIELDS`` key (not a real person)."""
    person: dict[str, Any] = dict.fromkeys(RESIDENT_FIELDS)
    person.update(
        atena_no="0000000101",
        household_no="1000000101",
        kojin_bango=KOJIN_BANGO,
        juminhyo_code=JUMINHYO_CODE,
        kind="japanese",
        status="resident",
        name=NAME,
        name_kana="よしだ　たかし",
        birth_date="1980-01-01",
        sex="M",
        address=ADDRESS,
        katagaki=KATAGAKI,
        relationship="世帯主",
        householder_name=NAME,
        honseki="鹿児島県鹿児島市山下町11番地",
        hittousha=NAME,
        became_resident_on="1980-01-01",
        address_set_on="2015-06-30",
        previous_address="鹿児島市東千石町1番1号",
        in_transition=0,
        support_measure=0,
        version=1,
        updated_at="2026-11-01T00:00:00Z",
    )
    person.update(over)
    return person


def foreign_person(**over: Any) -> dict[str, Any]:
    """A synthetic foreign resident with a 通称 (not a real person)."""
    person = synthetic_person(
        atena_no="0000000201",
        kind="foreign",
        name="グエン　ヴァン　アン",
        name_kana="ぐえん　ゔぁん　あん",
        name_alpha="NGUYEN VAN AN",
        tsusho="山本　安",
        birth_date="1995-03-04",
        relationship="世帯主",
        householder_name="グエン　ヴァン　アン",
        nationality="ベトナム",
        art30_45_class="中長期在留者",
        zairyu_status="技術・人文知識・国際業務",
        zairyu_period="3年",
        zairyu_expiry="2028-03-31",
        zairyu_card_no="AB12345678CD",
        honseki="鹿児島県鹿児島市山下町11番地",  # never printed for a foreign resident, even if present
        hittousha="山下　一郎",
    )
    person.update(over)
    return person


def seal_record(**over: Any) -> dict[str, Any]:
    seal: dict[str, Any] = dict.fromkeys(SEAL_FIELDS)
    seal.update(seal_no="0012345", owner_atena_no="0000000101", impression="𠮷田", registered_on="2010-04-01")
    seal.update(status="active", version=1)
    seal.update(over)
    return seal


def tax_record(**over: Any) -> dict[str, Any]:
    tax: dict[str, Any] = dict.fromkeys(TAX_FIELDS, 0)
    tax.update(
        owner_atena_no="0000000101",
        fiscal_year=2026,
        salary_income=4_360_000,
        business_income=120_000,
        pension_income=0,
        other_income=35_000,
        total_income=4_515_000,
        deductions=1_230_000,
        taxable_income=3_285_000,
        municipal_income_levy=197_100,
        municipal_per_capita=3_500,
        prefectural_income_levy=131_400,
        prefectural_per_capita=1_500,
        paid=333_500,
        unpaid=0,
        version=1,
    )
    tax.update(over)
    return tax


def request(kind: str = "juminhyo", **over: Any) -> CertificateRequest:
    """A request for ``kind`` with a synthetic principal and, for inkan and tax kinds, their records."""
    fields: dict[str, Any] = {
        "kind": kind,
        "persons": [synthetic_person()],
        "serial": "20261126-000123",
        "issued_at": ISSUED_AT,
        "municipality_name": "鹿児島市",
        "municipality_code": "462012",
        "mayor_name": "鹿児島市長　桜島　太郎",
        "options": frozenset({"householder"}) if kind == "juminhyo" else frozenset(),
        "seal": seal_record() if kind == "inkan" else None,
        "tax": tax_record() if kind.startswith("tax_") else None,
    }
    fields.update(over)
    return CertificateRequest(**fields)


KINDS = ("juminhyo", "inkan", "tax_income", "tax_status", "tax_income_assessment", "tax_payment")


def pdftotext(path: Path, *mode: str) -> str:
    return subprocess.run(
        ["pdftotext", *mode, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


@pytest.fixture(scope="session")
def issuing_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture(scope="session")
def public_key_file(issuing_key: Ed25519PrivateKey, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("keys") / "issuing-ed25519.pub"
    path.write_bytes(public_key_pem(issuing_key.public_key()))
    return path


@pytest.fixture(scope="session")
def render(issuing_key: Ed25519PrivateKey) -> Callable[..., RenderedCertificate]:
    def _render(persons: list[dict[str, Any]] | None = None, **over: Any) -> RenderedCertificate:
        kwargs: dict[str, Any] = {
            "serial": "20261126-000123",
            "issued_at": ISSUED_AT,
            "municipality_name": "鹿児島市",
            "municipality_code": "462012",
            "mayor_name": "鹿児島市長　桜島　太郎",
            "key": issuing_key,
        }
        kwargs.update(over)
        return render_juminhyo(persons or [synthetic_person()], **kwargs)

    return _render


@pytest.fixture(scope="session")
def render_req(issuing_key: Ed25519PrivateKey) -> Callable[[CertificateRequest], RenderedCertificate]:
    return lambda req: render_certificate(req, issuing_key)


@pytest.fixture(scope="session")
def certificate(render: Callable[..., RenderedCertificate]) -> RenderedCertificate:
    return render()


@pytest.fixture(scope="session")
def certificate_pdf(certificate: RenderedCertificate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "juminhyo.pdf"
    path.write_bytes(certificate.pdf)
    return path
