"""PDFs a faulty or hostile path between the server and a terminal could hand over, made with pypdf from
genuine certificates: a sheet dropped, a sheet from another certificate, the sheets out of order."""

from __future__ import annotations

import io
from collections.abc import Sequence

from pypdf import PdfReader, PdfWriter


def with_pages(pages: Sequence[tuple[bytes, int]]) -> bytes:
    """A PDF of the given (PDF, 1-based page) pairs, in that order."""
    writer = PdfWriter()
    readers: dict[int, PdfReader] = {}
    for pdf, page in pages:
        reader = readers.setdefault(id(pdf), PdfReader(io.BytesIO(pdf)))
        writer.add_page(reader.pages[page - 1])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def sheet_count(pdf: bytes) -> int:
    return len(PdfReader(io.BytesIO(pdf)).pages)


def without_sheet(pdf: bytes, sheet: int) -> bytes:
    return with_pages([(pdf, page) for page in range(1, sheet_count(pdf) + 1) if page != sheet])


def with_sheet_from(pdf: bytes, other: bytes, sheet: int) -> bytes:
    """``pdf`` with its sheet ``sheet`` replaced by the same sheet of ``other``."""
    return with_pages([(other if page == sheet else pdf, page) for page in range(1, sheet_count(pdf) + 1)])


def reordered(pdf: bytes, order: Sequence[int]) -> bytes:
    return with_pages([(pdf, page) for page in order])
