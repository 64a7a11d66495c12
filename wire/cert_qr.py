"""Offline verification of a printed or downloaded certificate: find the QR, check the signed record.

``extract_record_text`` reads the QR of a PDF from the file itself: the certificate's QR is a 1-bit image
mask, one pixel a module (an XObject; inline in certificates made before, and in files Ghostscript
re-made), handed over as it is by :mod:`pdf_objects` (files of the shape konbini writes) or else pypdf;
the modules are drawn into a small grey image (two pixels a module, with its quiet zone) for libzbar
(:mod:`zbar`): a few milliseconds, where rasterising the page took over a second. Neither pypdf nor PIL
is loaded for a konbini PDF, so that ``konbini-verify`` starts fast. Only a PDF that paints no such
image (a scanned sheet) is rasterised, at 300 dpi with poppler's ``pdftoppm`` as a scanner would see the
paper; a PNG/JPEG image (a scan, a photo) goes to zbar as it is. Only images the page draws count (an
image listed in its resources but never drawn is not what the paper shows)."""

from __future__ import annotations

import io
import re
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, NamedTuple

from wire.cert_record import CertRecord, InvalidRecord, record_text_of, verify_record

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

RASTER_DPI: Final = 300
_PDF_TIMEOUT_S: Final = 60
_MAX_PAGES: Final = 50
_PX_PER_MODULE: Final = 2  # the image zbar gets from an embedded QR: a module two pixels square
_QUIET_MODULES: Final = 4
_FORM_DEPTH: Final = 3  # forms within forms searched for the QR image


class VerifyError(Exception):
    """No record could be read. ``reason``: ``unreadable_file`` or ``no_qr_found``."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class VerifyOutcome(NamedTuple):
    valid: bool
    reason: str | None  # None when valid, else a stable short code
    record: CertRecord | None


def _decode_image(grey: bytes, width: int, height: int) -> list[str]:
    """The texts of the QR codes zbar finds in an 8-bit grey image."""
    from wire.zbar import decode_qr

    texts = []
    for data in decode_qr(grey, width, height):
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
            grey = image.convert("L")
    except (UnidentifiedImageError, OSError) as exc:
        raise VerifyError("unreadable_file", f"{path}: not a readable PDF or image") from exc
    return _decode_image(grey.tobytes(), grey.width, grey.height)


def _rasterise_page(path: Path, page: int, out_prefix: Path) -> Path | None:
    """One page as a grey PNG at RASTER_DPI; ``None`` past the last page."""
    import subprocess

    try:
        subprocess.run(  # noqa: S603  a fixed argv, no shell
            [  # noqa: S607  a Debian program on PATH
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


def _qr_size(width: int, height: int) -> bool:
    """Whether an image of this size could be a QR symbol drawn one pixel a module (versions 1-40)."""
    return width == height and 21 <= width <= 177 and (width - 17) % 4 == 0


def _symbol_texts(rows: list[str], dark_is_one: bool | None) -> list[str]:
    """zbar's reading of a symbol given one module a character (``rows`` of ``"0"``/``"1"``, no quiet
    zone), drawn with a white quiet zone at ``_PX_PER_MODULE`` pixels a module. ``dark_is_one``: whether
    a 1 is a dark module; ``None`` (unknown, as in a CCITT image): both ways are tried. (Built from bytes,
    without PIL: its import costs a verification of a PDF more than the rest of the reading.)"""
    px = _PX_PER_MODULE
    side = (len(rows) + 2 * _QUIET_MODULES) * px
    margin = b"\xff" * (_QUIET_MODULES * px)
    for dark_one in {True: (True,), False: (False,), None: (False, True)}[dark_is_one]:
        light, dark = ("\xff", "\x00") if dark_one else ("\x00", "\xff")
        scale = str.maketrans({"0": light * px, "1": dark * px})
        lines = [margin + row.translate(scale).encode("latin-1") + margin for row in rows]
        quiet = [b"\xff" * side] * (_QUIET_MODULES * px)
        grey = b"".join([*quiet, *(line for line in lines for _ in range(px)), *quiet])
        texts = _decode_image(grey, side, side)
        if texts:
            return texts
    return []


def _bit_rows(data: bytes, n: int) -> list[str]:
    """The rows of an n x n 1-bit image (each row padded to a byte) as strings of ``"0"``/``"1"``."""
    stride = (n + 7) // 8
    return [
        format(int.from_bytes(data[r * stride : (r + 1) * stride], "big"), f"0{stride * 8}b")[:n]
        for r in range(n)
    ]


def _dark_is_one(decode: object) -> bool:
    """A 0 sample paints (an image mask) or is black (grey) unless ``/Decode [1 0]`` turns it round."""
    return isinstance(decode, list) and [float(v) for v in decode] == [1.0, 0.0]


def _xobject_texts(image: Any) -> list[str]:
    """QR texts of an image XObject that holds a symbol one pixel a module (1 bit, a mask or grey)."""
    n = image.get("/Width")
    if not isinstance(n, int) or not _qr_size(n, image.get("/Height", -1)):
        return []
    if not image.get("/ImageMask", False) and (
        image.get("/BitsPerComponent") != 1 or image.get("/ColorSpace") != "/DeviceGray"
    ):
        return []
    data = image.get_data()
    if len(data) != n * ((n + 7) // 8):
        return []
    return _symbol_texts(_bit_rows(data, n), _dark_is_one(image.get("/Decode")))


_DRAWN: Final = re.compile(rb"(/[^\s/\[\]<>(){}%]+)\s*Do\b")  # the names of the XObjects a content draws
_WHITE_IS_ONE: Final = bytes(b"1"[0] if v >= 128 else b"0"[0] for v in range(256))  # grey -> "0"/"1"
_INLINE_IMAGE: Final = re.compile(rb"(?<![^\s])BI\s(.{1,400}?)\sID\s", re.S)
_INLINE_TOKEN: Final = re.compile(rb"/[^\s/\[\]<>()]+|\[[^\]]*\]|<<.*?>>|[-+.\d]+|true|false", re.S)
_INLINE_KEYS: Final = {b"W": b"Width", b"H": b"Height", b"IM": b"ImageMask", b"D": b"Decode", b"F": b"Filter"}
_INLINE_KEYS.update({b"BPC": b"BitsPerComponent", b"CS": b"ColorSpace", b"DP": b"DecodeParms"})


def _inline_texts(content: bytes) -> Iterator[list[str]]:
    """QR texts of each inline image (``BI ... ID ... EI``) in ``content`` that holds a symbol one pixel
    a module: konbini's certificates before the QR became an XObject (``/F /AHx``), and files re-made
    by Ghostscript (CUPS's PDF printer), which writes small images inline, ``/F /CCF``."""
    for match in _INLINE_IMAGE.finditer(content):
        tokens = _INLINE_TOKEN.findall(match.group(1))
        entries = {_INLINE_KEYS.get(k[1:], k[1:]): v for k, v in zip(tokens[::2], tokens[1::2], strict=False)}
        try:
            n = int(entries.get(b"Width", b"0"))
            mask = entries.get(b"ImageMask") == b"true"
            if not _qr_size(n, int(entries.get(b"Height", b"0"))) or not (
                mask or entries.get(b"BitsPerComponent") == b"1"
            ):
                continue
            start = match.end()
            end = content.find(b"EI", start)
            data = content[start:end].rstrip()
            decode = [float(v) for v in entries.get(b"Decode", b"[0 1]").strip(b"[]").split()]
            dark_is_one: bool | None = decode == [1.0, 0.0]
            filter_name = entries.get(b"Filter", b"").strip(b"[]/ ")
            if filter_name in (b"AHx", b"ASCIIHexDecode"):
                data = bytes.fromhex(data.split(b">")[0].decode("ascii"))
            elif filter_name in (b"Fl", b"FlateDecode"):
                data = zlib.decompress(data)
            elif filter_name in (b"CCF", b"CCITTFaxDecode"):
                from PIL import Image
                from pypdf.filters import CCITTFaxDecode
                from pypdf.generic import DictionaryObject, NameObject, NumberObject

                parms = dict(re.findall(rb"/(\w+)\s+(-?\d+|true|false)", entries.get(b"DecodeParms", b"")))
                tiff = CCITTFaxDecode.decode(
                    data,
                    DictionaryObject(
                        {
                            NameObject(f"/{k.decode()}"): NumberObject(int(v))
                            for k, v in parms.items()
                            if v[-1:].isdigit()
                        }
                    ),
                    height=n,
                )
                with Image.open(io.BytesIO(tiff)) as symbol:
                    grey = symbol.convert("L").tobytes()
                if len(grey) != n * n:
                    continue
                yield _symbol_texts(
                    [grey[r * n : (r + 1) * n].translate(_WHITE_IS_ONE).decode() for r in range(n)], None
                )
                continue
            elif filter_name:
                continue
            if len(data) >= n * ((n + 7) // 8):
                yield _symbol_texts(_bit_rows(data, n), dark_is_one)
        except (ValueError, zlib.error, OSError):  # PIL's UnidentifiedImageError is an OSError
            continue


def _painted_images(resources: Any, content: bytes, depth: int = 0) -> Iterator[list[str]]:
    """QR texts of each image ``content`` paints: its inline images, the image XObjects it draws
    (``/Name Do``), and those of the forms it draws."""
    yield from _inline_texts(content)
    xobjects = resources.get("/XObject") if resources is not None else None
    if xobjects is None:
        return
    xobjects = xobjects.get_object()
    drawn = set(_DRAWN.findall(content))
    for name in xobjects:
        if name.encode("latin-1") not in drawn:
            continue  # listed but never drawn: not what the page shows
        xobject = xobjects[name].get_object()
        subtype = xobject.get("/Subtype")
        if subtype == "/Image":
            yield _xobject_texts(xobject)
        elif subtype == "/Form" and depth < _FORM_DEPTH:
            yield from _painted_images(xobject.get("/Resources"), xobject.get_data(), depth + 1)


def _embedded_qr_texts(path: Path) -> list[str]:
    """QR texts of the first page that paints a QR symbol as an image, read from the file without
    rasterising; ``[]`` for a PDF that has none or that pypdf cannot read (it is rasterised then).
    A file of the shape konbini writes is read by :mod:`pdf_objects` (pypdf costs 80 ms to import);
    any other, or one in which that finds no QR, by pypdf."""
    from wire.pdf_objects import PdfObjects, Unsupported

    try:
        doc = PdfObjects.open(path)
        pages = ((page.get("/Resources"), doc.contents(page)) for page in doc.pages(_MAX_PAGES))
        texts = _first_painted_qr(pages)
    except (Unsupported, ValueError, TypeError, KeyError, AttributeError, zlib.error, OSError):
        texts = []
    return texts or _embedded_qr_texts_pypdf(path)


def sheet_qr_texts(pdf: bytes) -> list[list[str]]:
    """The QR texts each page of ``pdf`` paints as an image, page by page (``[]`` for a page with none), read
    from the file without rasterising: what the print guard checks of every sheet before printing. A file
    of the shape konbini writes is read by :mod:`pdf_objects`, any other by pypdf; one neither reads, or
    one of more than 50 pages, raises :class:`VerifyError` ``unreadable_file``."""
    from wire.pdf_objects import PdfObjects, Unsupported

    try:
        doc = PdfObjects(pdf)
        return _texts_by_page(
            (page.get("/Resources"), doc.contents(page)) for page in doc.pages(_MAX_PAGES + 1)
        )
    except (Unsupported, ValueError, TypeError, KeyError, AttributeError, zlib.error, OSError):
        pass
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(io.BytesIO(pdf))
        return _texts_by_page(
            (page.get("/Resources"), _content(page)) for page in reader.pages[: _MAX_PAGES + 1]
        )
    except (PyPdfError, ValueError, TypeError, KeyError, AttributeError, zlib.error, OSError) as exc:
        raise VerifyError("unreadable_file", f"not a readable PDF ({type(exc).__name__})") from exc


def _texts_by_page(pages: Iterable[tuple[Any, bytes]]) -> list[list[str]]:
    found = [[text for texts in _painted_images(res, content) for text in texts] for res, content in pages]
    if len(found) > _MAX_PAGES:
        raise VerifyError("unreadable_file", f"the PDF has more than {_MAX_PAGES} pages")
    return found


def _embedded_qr_texts_pypdf(path: Path) -> list[str]:
    """:func:`_embedded_qr_texts` for any PDF pypdf reads."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(path)
        return _first_painted_qr(
            (page.get("/Resources"), _content(page)) for page in reader.pages[:_MAX_PAGES]
        )
    except (PyPdfError, ValueError, TypeError, KeyError, AttributeError, zlib.error, OSError):
        return []


def _content(page: Any) -> bytes:
    contents = page.get_contents()
    return contents.get_data() if contents is not None else b""


def _first_painted_qr(pages: Iterator[tuple[Any, bytes]]) -> list[str]:
    """QR texts of the first of ``pages`` (resources, content) that paints a QR image."""
    for resources, content in pages:
        for texts in _painted_images(resources, content):
            if texts:
                return texts
    return []


def _decode_pdf(path: Path) -> list[str]:
    """QR texts of the first page that has any (every page of a certificate carries the record): from
    the QR image embedded in the file, else from the pages rasterised."""
    return _embedded_qr_texts(path) or _rasterised_qr_texts(path)


def _rasterised_qr_texts(path: Path) -> list[str]:
    """QR texts of the first page that has any, the pages rasterised one by one."""
    import shutil
    import tempfile

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
