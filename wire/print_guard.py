"""The print guard: a terminal prints a certificate only when every sheet of the PDF it received belongs to
the serial issued in this session and to the person in front of it.

Each sheet must carry a ``KB2`` record (:mod:`wire.cert_record`) that verifies with the city's issuing key,
names the serial the server issued in this session and this session's requester tag, and the sheets must be
exactly 1..n of that serial, in order. The kiosk computes the tag from the credential certificate it read
from the card; the desk from its own staff session (:func:`desk_credential_sha256`). Anything else is a
:class:`GuardRefused` with a stable :class:`Finding`: the terminal prints nothing and reports it (the
server voids the certificate, refunds it and writes an alarm to the audit trail).
"""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import TYPE_CHECKING

from wire.cert_qr import VerifyError, sheet_qr_texts
from wire.cert_record import (
    PREFIX_V2,
    CertRecord,
    InvalidRecord,
    record_text_of,
    requester_tag,
    verify_record,
)

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class Finding(StrEnum):
    """Why the guard refused a PDF: a stable code on the wire (the print report) and in the audit trail."""

    UNREADABLE = "pdf_unreadable"  # not a PDF whose pages can be read, or no page at all
    NO_RECORD = "sheet_without_record"  # a sheet that carries no signed record
    BAD_SIGNATURE = "bad_signature"  # a record not signed with the city's issuing key (or malformed)
    NO_REQUESTER = "no_requester_tag"  # a record that names no requester (KB1)
    WRONG_SERIAL = "wrong_serial"  # a sheet of another certificate
    WRONG_REQUESTER = "wrong_requester"  # this serial, but made for another credential
    SHEETS = "sheets_not_1_to_n"  # a sheet missing, repeated, out of order or added


class GuardRefused(Exception):
    """The PDF must not be printed. ``sheet``: the page (1-based) where the finding was made, 0 for the file."""

    def __init__(self, finding: Finding, sheet: int = 0, detail: str = "") -> None:
        self.finding = finding
        self.sheet = sheet
        self.detail = detail
        where = f" (sheet {sheet})" if sheet else ""
        super().__init__(f"{finding.value}{where}{': ' + detail if detail else ''}")


def desk_credential_sha256(session_token: str) -> bytes:
    """What the desk's requester tag binds: the SHA-256 of its staff session's token (the server keeps that
    digest of the session it authenticated)."""
    return hashlib.sha256(session_token.encode("utf-8")).digest()


def check_sheets(pdf: bytes, serial: str, credential_sha256: bytes, public_key: Ed25519PublicKey) -> int:
    """The number of sheets of ``pdf`` when every one is sheet i of n of ``serial``, for the credential whose
    DER has the SHA-256 ``credential_sha256``, signed with ``public_key``; else :class:`GuardRefused`."""
    try:
        pages = sheet_qr_texts(pdf)
    except VerifyError as exc:
        raise GuardRefused(Finding.UNREADABLE, 0, exc.detail) from None
    if not pages:
        raise GuardRefused(Finding.UNREADABLE, 0, "no page")
    tag = requester_tag(serial, credential_sha256)
    for index, texts in enumerate(pages, start=1):
        records = [text for text in texts if record_text_of(text).startswith("KB")]
        if not records:
            raise GuardRefused(Finding.NO_RECORD, index)
        for text in records:
            _check_sheet(_verified(text, public_key, index), index, len(pages), serial, tag)
    return len(pages)


def _verified(text: str, public_key: Ed25519PublicKey, index: int) -> CertRecord:
    try:
        return verify_record(text, public_key)
    except InvalidRecord as exc:
        raise GuardRefused(Finding.BAD_SIGNATURE, index, exc.reason) from None


def _check_sheet(record: CertRecord, index: int, total: int, serial: str, tag: str) -> None:
    if record.version != PREFIX_V2:
        raise GuardRefused(Finding.NO_REQUESTER, index)
    if record.serial != serial:
        raise GuardRefused(Finding.WRONG_SERIAL, index)
    if record.requester_tag != tag:
        raise GuardRefused(Finding.WRONG_REQUESTER, index)
    if (record.sheet, record.sheets) != (index, total):
        raise GuardRefused(
            Finding.SHEETS, index, f"sheet {record.sheet} of {record.sheets}, page {index} of {total}"
        )
