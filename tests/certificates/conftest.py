"""Fixtures for certificate tests: a throwaway issuing key, synthetic residents, seal and tax records,
rendered certificates, and helpers that read a PDF back the way people and programs do."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates import template as template_module
from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.juminhyo import render_juminhyo
from issuance_server.certificates.render import CertificateRequest, render_certificate
from konbini_demo import people
from wire.cert_record import JST, public_key_pem

NAME = people.HOLDER_NAME
ADDRESS = people.ADDRESS
KATAGAKI = people.KATAGAKI
KOJIN_BANGO = "123456789018"
JUMINHYO_CODE = "98765432109"
ISSUED_AT = datetime(2026, 11, 26, 10, 30, 15, tzinfo=JST)


def synthetic_person(**over: Any) -> dict[str, Any]:
    """A synthetic resident with every ``RESIDENT_FIELDS`` key (not a real person): 𠮷田　髙志."""
    person = people.householder(kojin_bango=KOJIN_BANGO, juminhyo_code=JUMINHYO_CODE)
    person.update(over)
    return person


def foreign_person(**over: Any) -> dict[str, Any]:
    """A synthetic foreign resident with a 通称 (not a real person)."""
    person = synthetic_person(
        atena_no="0000000201",
        **people.FOREIGN_RESIDENT,
        honseki=people.HONSEKI,  # never printed for a foreign resident, even if present
        hittousha="山下　一郎",
    )
    person.update(over)
    return person


seal_record = people.seal_record
tax_record = people.tax_record


def request(kind: str = "juminhyo", **over: Any) -> CertificateRequest:
    """A request for ``kind`` with a synthetic principal and, for inkan and tax kinds, their records."""
    fields: dict[str, Any] = {
        "kind": kind,
        "persons": [synthetic_person()],
        "serial": "20261126-000123",
        "issued_at": ISSUED_AT,
        "municipality_name": "鹿児島市",
        "municipality_code": "462012",
        "mayor_name": "鹿児島県鹿児島市長　桜島　太郎",
        "options": frozenset({"householder"}) if kind == "juminhyo" else frozenset(),
        "seal": seal_record() if kind == "inkan" else None,
        "tax": tax_record() if kind.startswith("tax_") else None,
    }
    fields.update(over)
    return CertificateRequest(**fields)


KINDS = ("juminhyo", "inkan", "tax_income", "tax_status", "tax_income_assessment", "tax_payment")


OMISSION_SUFFIX = "の記載を省略しています。"


def items_printed(text: str) -> str:
    """A 住民票's text without its statement of omitted items (which names what it leaves out)."""
    return "\n".join(line for line in text.splitlines() if not line.endswith(OMISSION_SUFFIX))


def pdftotext(path: Path, *mode: str) -> str:
    return subprocess.run(
        ["pdftotext", *mode, str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def page_png(pdf: Path, page: int, dpi: int, *mode: str) -> Path:
    """Page ``page`` of ``pdf`` as a PNG at ``dpi`` (``mode``: e.g. ``-gray``), ``p<page>.png`` beside it."""
    prefix = pdf.parent / f"p{page}"
    pages = ["-f", str(page), "-l", str(page), "-singlefile"]
    subprocess.run(["pdftoppm", "-r", str(dpi), *mode, "-png", *pages, str(pdf), str(prefix)], check=True)
    return prefix.with_suffix(".png")


@pytest.fixture
def own_templates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of templates/ that a test may reword (read through KONBINI_TEMPLATES_DIR)."""
    folder = tmp_path / "templates"
    shutil.copytree(template_module.TEMPLATES_DIR, folder)
    monkeypatch.setenv("KONBINI_TEMPLATES_DIR", str(folder))
    template_module.load_template.cache_clear()
    yield folder
    template_module.load_template.cache_clear()


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
            "mayor_name": "鹿児島県鹿児島市長　桜島　太郎",
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
