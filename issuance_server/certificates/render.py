"""One entry point for every certificate kind: :func:`render_certificate`.

A kind's module (:mod:`juminhyo`, :mod:`inkan`, :mod:`tax`) turns the records into a template name and
printed values; this module adds what every certificate prints (title, serial, 和暦 issue date, the city
and its mayor, the data-as-of line in recovery mode), lays the template out, signs the QR record over a
digest of the printed content, and draws the PDF. A sheet's record names the person printed on it where a
template prints one person a sheet (the 個人票), else the principal (``persons[0]``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from issuance_server.certificates import inkan, juminhyo, tax
from issuance_server.certificates.document import Content, RenderedCertificate
from issuance_server.certificates.drawing import draw
from issuance_server.certificates.formatting import moment_text
from issuance_server.certificates.layout import Layout, content_digest, lay_out
from issuance_server.certificates.template import load_template
from wire.cert_record import (
    JST,
    CertRecord,
    digest_prefix,
    qr_text,
    requester_tag,
    sign_record,
)
from wire.wareki import format_wareki

__all__ = ["KINDS", "CertificateRequest", "RenderedCertificate", "build_layout", "render_certificate"]


@dataclass(frozen=True)
class CertificateRequest:
    """What to print. ``persons[0]`` is the principal (the card holder), named in the QR record."""

    kind: str  # wire.kiosk_api.CertificateKind values
    persons: Sequence[Mapping[str, Any]]  # resident dicts (wire.linkage.RESIDENT_FIELDS keys)
    serial: str
    issued_at: datetime  # timezone-aware; kept to the second
    municipality_name: str
    municipality_code: str
    mayor_name: str
    options: frozenset[str] = frozenset()  # juminhyo: subset of wire.kiosk_api.JUMINHYO_OPTIONS
    layout: str = "setai"  # juminhyo: "setai" (世帯連記式) | "kojin" (個人票)
    whole_household: bool = True  # juminhyo: the persons are every current member of the household
    seal: Mapping[str, Any] | None = None  # inkan: the seal record (wire.linkage.SEAL_FIELDS keys)
    tax: Mapping[str, Any] | None = None  # tax kinds: the tax record (TAX_FIELDS keys) of the fiscal year
    data_as_of: datetime | None = None  # recovery mode: print that the data is as of this moment
    public_base_url: str = ""  # the city's public site: the QR then links to its check page
    # The SHA-256 of the DER of the credential certificate the requester's session authenticated: each sheet's
    # QR is then a KB2 record naming its sheet and the requester (the print guard); None: KB1 records.
    requester_sha256: bytes | None = None


def _one_person(req: CertificateRequest) -> Mapping[str, Any]:
    if len(req.persons) != 1:
        raise ValueError(f"{req.kind} is issued for exactly one person")
    return req.persons[0]


_BUILDERS: Final[dict[str, Callable[[CertificateRequest], Content]]] = {
    juminhyo.KIND: lambda r: juminhyo.content(r.persons, r.options, r.layout, r.whole_household),
    inkan.KIND: lambda r: inkan.content(_one_person(r), r.seal, r.options),
    **{kind: (lambda r: tax.content(r.kind, _one_person(r), r.tax, r.options)) for kind in tax.TITLES},
}
KINDS: Final = frozenset(_BUILDERS)


def _issued_at(req: CertificateRequest) -> datetime:
    if req.issued_at.tzinfo is None or req.issued_at.utcoffset() is None:
        raise ValueError("issued_at must be timezone-aware")
    if req.data_as_of is not None and (req.data_as_of.tzinfo is None or req.data_as_of.utcoffset() is None):
        raise ValueError("data_as_of must be timezone-aware")
    return req.issued_at.replace(microsecond=0)


def build_layout(req: CertificateRequest) -> Layout:
    """The resolved layout of ``req`` (every printed text, the pages); ``MissingGlyphError`` if any
    character cannot be printed, ``ValueError`` on a bad request."""
    if req.kind not in _BUILDERS:
        raise ValueError(f"unknown certificate kind {req.kind!r}")
    issued_at = _issued_at(req)
    kind_content = _BUILDERS[req.kind](req)
    values = {
        "serial": req.serial,
        "issued_date": format_wareki(issued_at.astimezone(JST).date()),  # the date in Japan
        "municipality_name": req.municipality_name,
        "mayor_name": req.mayor_name,
        "data_as_of": moment_text(req.data_as_of) if req.data_as_of is not None else "",
        **kind_content.values,
    }
    template = load_template(kind_content.template)
    return lay_out(template, values, kind_content.persons, kind_content.options)


def render_certificate(req: CertificateRequest, key: Ed25519PrivateKey) -> RenderedCertificate:
    """Render ``req`` to a signed, verifiable PDF.

    Raises ``fonts.MissingGlyphError`` if any printed character has no glyph (nothing is replaced), and
    ``ValueError`` on a bad request: unknown kind, layout or option, a naive time, a removed person, a
    seal or tax record of another person, more than one person for a kind issued to the holder only.
    """
    layout = build_layout(req)
    issued_at = _issued_at(req)
    digest = content_digest(
        layout,
        kind=req.kind,
        serial=req.serial,
        issued_at=issued_at,
        municipality_code=req.municipality_code,
    )
    one_a_sheet = layout.template.block.per_page == 1
    named = [req.persons[blocks[0] if one_a_sheet else 0] for blocks in layout.pages]
    tag = requester_tag(req.serial, req.requester_sha256) if req.requester_sha256 is not None else ""
    records = [
        CertRecord(
            serial=req.serial,
            kind=req.kind,
            issued_at=issued_at,
            municipality_code=req.municipality_code,
            name=str(person["name"]),
            birth_date=date.fromisoformat(str(person["birth_date"])),
            address=str(person["address"]),
            content_digest=digest_prefix(digest),
            sheet=n if tag else 0,
            sheets=len(named) if tag else 0,
            requester_tag=tag,
        )
        for n, person in enumerate(named, 1)
    ]
    texts = [sign_record(record, key) for record in records]
    pdf, pages = draw(layout, [qr_text(text, req.public_base_url) for text in texts], created=issued_at)
    return RenderedCertificate(
        pdf=pdf,
        record_text=texts[0],
        content_digest=digest,
        pages=pages,
        record=records[0],
        sheet_records=tuple(texts),
    )


def warm_up() -> None:
    """Load what the first certificate would otherwise wait for (fonts, glyph outlines for seals and
    micro text, the 地紋 tile, QR layouts): about half a second, once per process. Call it at start-up,
    in the thread or process that will render."""
    person = {
        "atena_no": "0",
        "kind": "japanese",
        "status": "resident",
        "name": "𠮷田　髙志",
        "birth_date": "1980-01-01",
        "address": "鹿児島市山下町11番1号",
    }
    seal = {"seal_no": "0", "owner_atena_no": "0", "impression": "𠮷田", "status": "active"}
    request = CertificateRequest(
        kind=inkan.KIND,
        persons=[person],
        serial="0",
        issued_at=datetime(2026, 1, 1, tzinfo=JST),
        municipality_name="市",
        municipality_code="000000",
        mayor_name="市長",
        seal=seal,
    )
    render_certificate(request, Ed25519PrivateKey.generate())
