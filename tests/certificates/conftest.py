"""Fixtures for certificate tests: a throwaway issuing key, synthetic residents, one rendered certificate."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.juminhyo import render_juminhyo
from issuance_server.certificates.record import JST, public_key_pem
from wire.linkage import RESIDENT_FIELDS

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
def certificate(render: Callable[..., RenderedCertificate]) -> RenderedCertificate:
    return render()


@pytest.fixture(scope="session")
def certificate_pdf(certificate: RenderedCertificate, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pdf") / "juminhyo.pdf"
    path.write_bytes(certificate.pdf)
    return path
