"""What a kind's module hands the renderer (:class:`Content`) and what the renderer returns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from issuance_server.certificates.layout import PersonInput
from wire.cert_record import CertRecord


@dataclass(frozen=True)
class Content:
    """A certificate's kind-specific part: its template, document values and persons (principal first)."""

    template: str
    values: Mapping[str, str]
    persons: Sequence[PersonInput]
    options: frozenset[str] | None = None  # None: the template's default options


@dataclass(frozen=True)
class RenderedCertificate:
    pdf: bytes
    record_text: str  # the QR's text
    content_digest: str  # hex SHA-256 of the printed content (layout.content_digest)
    pages: int
    record: CertRecord  # the first sheet's
    sheet_records: tuple[str, ...] = ()  # each sheet's record text (the 個人票 name each sheet's person)
