"""Offline verification of a printed or downloaded certificate: find the QR, check the signed record.

``extract_record_text`` reads a PDF (rasterised at 300 dpi with poppler's ``pdftoppm``, as a scanner or
camera would see the paper) or a PNG/JPEG image, and decodes the QR codes with zbar (pyzbar).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from issuance_server.certificates.record import CertRecord, InvalidRecord, record_text_of, verify_record

RASTER_DPI: Final = 300
_PDF_TIMEOUT_S: Final = 60
_MAX_PAGES: Final = 50


class VerifyError(Exception):
    """No record could be read. ``reason``: ``unreadable_file`` or ``no_qr_found``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


@dataclass(frozen=True)
class VerifyOutcome:
    valid: bool
    reason: str | None  # None when valid, else a stable short code
    record: CertRecord | None


def _decode_image(image: object) -> list[str]:
    from pyzbar.pyzbar import ZBarSymbol, decode

    texts = []
    for symbol in decode(image, symbols=[ZBarSymbol.QRCODE]):
        data: bytes = symbol.data
        try:
            texts.append(data.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(data.decode("latin-1"))
    return texts


def _decode_image_file(path: Path) -> list[str]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            image.load()
            return _decode_image(image.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise VerifyError("unreadable_file", f"{path}: not a readable PDF or image") from exc


def _rasterise_page(path: Path, page: int, out_prefix: Path) -> Path | None:
    """One page as a grey PNG at RASTER_DPI; ``None`` past the last page."""
    try:
        subprocess.run(
            [
                "pdftoppm",
                "-r",
                str(RASTER_DPI),
                "-gray",
                "-png",
                "-singlefile",
                "-f",
                str(page),
                "-l",
                str(page),
                str(path),
                str(out_prefix),
            ],
            check=True,
            capture_output=True,
            timeout=_PDF_TIMEOUT_S,
        )
    except subprocess.CalledProcessError as exc:
        if page > 1 and b"Wrong page range" in exc.stderr:
            return None
        raise VerifyError("unreadable_file", f"{path}: pdftoppm could not rasterise it") from exc
    except subprocess.TimeoutExpired as exc:
        raise VerifyError("unreadable_file", f"{path}: pdftoppm timed out") from exc
    return out_prefix.with_suffix(".png")


def _decode_pdf(path: Path) -> list[str]:
    """QR texts of the first page that has any (every page of a certificate carries the record)."""
    if shutil.which("pdftoppm") is None:
        raise VerifyError("unreadable_file", "pdftoppm not found (install poppler-utils)")
    with tempfile.TemporaryDirectory(prefix="konbini-verify-") as tmp:
        for page in range(1, _MAX_PAGES + 1):
            image = _rasterise_page(path, page, Path(tmp) / f"page{page}")
            if image is None:
                break
            texts = _decode_image_file(image)
            if texts:
                return texts
    return []


def extract_record_text(path: Path) -> str:
    """The record text of the first konbini QR code in a PDF or an image file.

    Raises :class:`VerifyError` (``unreadable_file``, ``no_qr_found``).
    """
    path = Path(path)
    try:
        with path.open("rb") as fh:
            head = fh.read(5)
    except OSError as exc:
        raise VerifyError("unreadable_file", f"{path}: {exc.strerror or exc}") from exc
    texts = _decode_pdf(path) if head == b"%PDF-" else _decode_image_file(path)
    if not texts:
        raise VerifyError("no_qr_found", f"{path}: no QR code found")
    ours = [t for t in texts if record_text_of(t).startswith("KB")]
    return (ours or texts)[0].strip()


def verify_text(text: str, public_key: Ed25519PublicKey) -> VerifyOutcome:
    """Check a record text; never raises for bad input."""
    try:
        return VerifyOutcome(valid=True, reason=None, record=verify_record(text, public_key))
    except InvalidRecord as exc:
        return VerifyOutcome(valid=False, reason=exc.reason, record=None)


def verify_file(path: Path, public_key: Ed25519PublicKey) -> VerifyOutcome:
    """:func:`extract_record_text` then :func:`verify_text`; unreadable files and missing QR are invalid."""
    try:
        text = extract_record_text(path)
    except VerifyError as exc:
        return VerifyOutcome(valid=False, reason=exc.reason, record=None)
    return verify_text(text, public_key)
