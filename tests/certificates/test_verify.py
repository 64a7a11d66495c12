from __future__ import annotations

import io
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image

from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.drawing import draw
from issuance_server.certificates.layout import PersonInput, lay_out
from issuance_server.certificates.template import TemplateError, load_template, parse_template
from tests.certificates.conftest import page_png, synthetic_person
from wire import cert_qr as verify
from wire.cert_qr import VerifyError, extract_record_text, verify_file, verify_text


def test_pdf_without_qr_is_no_qr_found(tmp_path: Path) -> None:
    template = load_template("juminhyo_kojin")
    values = {
        k: "x" for k in ("title", "serial", "issued_date", "municipality_name", "mayor_name", "data_as_of")
    }
    person = PersonInput(values=dict.fromkeys(("name", "address"), "山田"), kind="japanese")
    with pytest.raises(TemplateError):  # the template needs every person value it prints
        lay_out(template, values, [person])
    minimal = parse_template(
        "t",
        {
            "kind": "t",
            "version": 1,
            "block": {
                "top": 20,
                "bottom": 250,
                "left": 10,
                "right": 200,
                "label_width": 30,
                "rows": [{"height": 200, "label": "氏名", "value": "{name}"}],
            },
        },
    )
    pdf, pages = draw(lay_out(minimal, {}, [person, person]), None)
    assert pages == 2  # every page is searched, then the search stops
    path = tmp_path / "noqr.pdf"
    path.write_bytes(pdf)
    with pytest.raises(VerifyError) as exc:
        extract_record_text(path)
    assert exc.value.reason == "no_qr_found"


def test_missing_file_is_unreadable(tmp_path: Path) -> None:
    outcome = verify_file(tmp_path / "absent.pdf", Ed25519PrivateKey.generate().public_key())
    assert (outcome.valid, outcome.reason) == (False, "unreadable_file")


def test_verify_text_never_raises() -> None:
    outcome = verify_text("KB1.\u3042.\u3042", Ed25519PrivateKey.generate().public_key())
    assert (outcome.valid, outcome.reason, outcome.record) == (False, "malformed", None)


def _no_rasterising(*args: object) -> None:
    raise AssertionError("the page was rasterised")


def test_a_pdf_qr_is_read_from_the_file_without_rasterising(
    render: Callable[..., RenderedCertificate], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verify, "_rasterise_page", _no_rasterising)
    for persons in ([synthetic_person()], [synthetic_person(atena_no=f"000000010{i}") for i in range(3)]):
        cert = render(persons, layout="kojin")  # one sheet, then three (a QR image each)
        path = tmp_path / f"c{cert.pages}.pdf"
        path.write_bytes(cert.pdf)
        assert extract_record_text(path) == cert.record_text
    assert cert.pages == 3


def test_a_scanned_pdf_is_rasterised(
    certificate: RenderedCertificate, certificate_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PDF that is a picture of the sheet (a black-and-white scanner's output, CCITT G4: no QR image in
    it) is rasterised. (A JPEG page takes poppler 7 s at 300 dpi, so this scanner is the one tested.)"""
    scanned = tmp_path / "scan.pdf"
    Image.open(page_png(certificate_pdf, 1, 200, "-gray")).convert("1").save(scanned, resolution=200.0)
    calls: list[int] = []
    rasterise = verify._rasterise_page

    def counted(path: Path, page: int, out_prefix: Path) -> Path | None:
        calls.append(page)
        return rasterise(path, page, out_prefix)

    monkeypatch.setattr(verify, "_rasterise_page", counted)
    assert extract_record_text(scanned) == certificate.record_text
    assert calls == [1]


def test_an_unpainted_qr_image_is_not_read(
    certificate: RenderedCertificate, certificate_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only what the page draws counts: the QR image left in the resources but not drawn is ignored."""
    names = set(re.findall(rb"/(FormXob\.kbQR\d+) Do", _page_content(certificate_pdf)))
    assert len(names) == 1
    path = tmp_path / "undrawn.pdf"
    path.write_bytes(_without_do(certificate_pdf, names.pop()))
    monkeypatch.setattr(verify, "_rasterise_page", lambda *args: None)  # the fallback finds nothing
    with pytest.raises(VerifyError) as exc:
        extract_record_text(path)
    assert exc.value.reason == "no_qr_found"


def _page_content(path: Path) -> bytes:
    from pypdf import PdfReader

    contents = PdfReader(path).pages[0].get_contents()
    assert contents is not None
    return contents.get_data()


def _without_do(path: Path, name: bytes) -> bytes:
    """The PDF with page 1's ``/name Do`` taken out of its content (written anew by pypdf)."""
    from pypdf import PdfWriter
    from pypdf.generic import ContentStream

    writer = PdfWriter(clone_from=str(path))
    page = writer.pages[0]
    content = page.get_contents()
    assert content is not None
    data = content.get_data().replace(b"/" + name + b" Do", b"")
    stream = ContentStream(None, writer)
    stream.set_data(data)
    page.replace_contents(stream)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_an_inline_qr_image_is_read_without_rasterising(
    certificate: RenderedCertificate, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Certificates issued before the QR became an XObject drew it as an inline image (``BI ... EI``)."""
    from reportlab.pdfgen.canvas import Canvas

    from issuance_server.certificates.qr import mask_bits, qr_matrix

    matrix = qr_matrix(certificate.record_text)
    n = matrix.size
    path = tmp_path / "inline.pdf"
    canvas = Canvas(str(path))
    canvas.addLiteral(
        f"q 0 g 108 0 0 108 100 500 cm\nBI /W {n} /H {n} /IM true /BPC 1 /D [1 0] /F /AHx ID\n"
        f"{mask_bits(matrix).hex()}>\nEI Q"
    )
    canvas.save()
    monkeypatch.setattr(verify, "_rasterise_page", _no_rasterising)
    assert extract_record_text(path) == certificate.record_text


@pytest.mark.skipif(shutil.which("gs") is None, reason="Ghostscript not installed")
def test_a_pdf_remade_by_ghostscript_is_read_without_rasterising(
    certificate: RenderedCertificate, certificate_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CUPS's PDF printer re-makes the file with Ghostscript, which writes the QR inline, CCITT-coded."""
    remade = tmp_path / "remade.pdf"
    subprocess.run(["gs", "-q", "-sDEVICE=pdfwrite", "-o", str(remade), str(certificate_pdf)], check=True)
    assert b"/CCF" in _page_content(remade) or b"/CCITTFaxDecode" in _page_content(remade)
    monkeypatch.setattr(verify, "_rasterise_page", _no_rasterising)
    assert extract_record_text(remade) == certificate.record_text


# ------------------------------------------------------------------ the fast path: pdf_objects and zbar


def test_a_konbini_pdf_is_read_without_loading_pypdf_pil_or_pyzbar(
    render: Callable[..., RenderedCertificate], tmp_path: Path
) -> None:
    """What makes ``konbini-verify`` start fast: the file is read by ``pdf_objects`` and the QR decoded
    by libzbar from bytes; pypdf, PIL and pyzbar (together ~150 ms of imports) are never loaded."""
    import sys

    cert = render([synthetic_person(atena_no=f"000000010{i}") for i in range(3)], layout="kojin")
    path = tmp_path / "c.pdf"
    path.write_bytes(cert.pdf)
    script = (
        "import sys; from pathlib import Path\n"
        "from wire.cert_qr import extract_record_text\n"
        f"print(extract_record_text(Path({str(path)!r})))\n"
        "print(sorted(m for m in ('pypdf', 'PIL', 'pyzbar', 'reportlab') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [cert.record_text, "[]"]


def test_pages_and_contents_are_those_pypdf_reads(
    render: Callable[..., RenderedCertificate], certificate_pdf: Path, tmp_path: Path
) -> None:
    from pypdf import PdfReader
    from pypdf.generic import DictionaryObject

    from issuance_server.certificates.pades import create_signing_identity, load_signer, sign_pdf
    from wire.pdf_objects import PdfObjects

    cert = render([synthetic_person(atena_no=f"000000010{i}") for i in range(3)], layout="kojin")
    create_signing_identity(tmp_path / "secrets", tmp_path / "keys", "鹿児島市")
    signed = sign_pdf(certificate_pdf.read_bytes(), load_signer(tmp_path / "secrets", tmp_path / "keys"))
    assert b"/Prev" in signed  # an incremental update: a second cross-reference section
    for pdf in (cert.pdf, signed):
        doc = PdfObjects(pdf)
        reference = PdfReader(io.BytesIO(pdf)).pages
        pages = list(doc.pages(50))
        assert len(pages) == len(reference) and len(list(doc.pages(1))) == 1
        for page, expected in zip(pages, reference, strict=True):
            contents = expected.get_contents()
            assert contents is not None
            assert doc.contents(page).rstrip() == contents.get_data().rstrip()
            names = set(page["/Resources"]["/XObject"])
            resources = expected["/Resources"]
            assert isinstance(resources, DictionaryObject)
            xobjects = resources["/XObject"]
            assert isinstance(xobjects, DictionaryObject)
            assert names == set(xobjects) and any("kbQR" in n for n in names)


def _startxref(pdf: bytes) -> int:
    return int(pdf[pdf.rindex(b"startxref") :].split()[1])


@pytest.mark.parametrize(
    "damage",
    [
        # a cross-reference stream where the table should be (what PDF 1.5 writers make)
        lambda pdf: pdf[: pdf.rindex(b"startxref")] + b"startxref\n%d\n%%%%EOF\n" % pdf.index(b"1 0 obj"),
        # another object number where the table says the QR image is
        lambda pdf: re.sub(
            rb"\n(\d+)(?= 0 obj\s*<<\s*/BitsPerComponent 1)", lambda m: b"\n" + b"0" * len(m[1]), pdf
        ),
        # an encrypted file
        lambda pdf: pdf.replace(b"/Root", b"/Encrypt 1 0 R /Root", 1),
        # the QR image's stream with a /Length that is wrong (the file's size and offsets kept)
        lambda pdf: re.sub(
            rb"(?<=/Length )(\d+)(?= /Subtype /Image)", lambda m: b"%d" % (int(m[1]) - 9), pdf
        ),
    ],
    ids=["xref-stream", "offset", "encrypted", "length"],
)
def test_files_of_another_shape_are_left_to_pypdf(
    damage: Callable[[bytes], bytes], certificate_pdf: Path, certificate: RenderedCertificate, tmp_path: Path
) -> None:
    from wire.pdf_objects import PdfObjects, Unsupported

    pdf = damage(certificate_pdf.read_bytes())
    with pytest.raises(Unsupported):
        doc = PdfObjects(pdf)
        for page in doc.pages(50):
            for name in page["/Resources"]["/XObject"]:
                page["/Resources"]["/XObject"][name].get_data()


def test_a_file_pdf_objects_cannot_read_is_read_by_pypdf(
    certificate: RenderedCertificate, certificate_pdf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file re-saved with an offset off (viewers and pypdf repair that) is still read from the file."""
    from wire.pdf_objects import PdfObjects, Unsupported

    path = tmp_path / "shifted.pdf"
    path.write_bytes(certificate_pdf.read_bytes().replace(b"\n1 0 obj", b"\n 1 0 obj", 1))
    with pytest.raises(Unsupported):
        PdfObjects.open(path)
    monkeypatch.setattr(verify, "_rasterise_page", _no_rasterising)
    assert extract_record_text(path) == certificate.record_text


def test_public_key_files_read_directly_and_by_cryptography_agree(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives import serialization

    from wire.cert_record import load_public_key, public_key_pem

    key = Ed25519PrivateKey.generate().public_key()
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    plain, wrapped, other = tmp_path / "plain.pub", tmp_path / "wrapped.pub", tmp_path / "rsa.pub"
    plain.write_bytes(public_key_pem(key))
    wrapped.write_bytes(b"issuing key of the city\n" + public_key_pem(key))  # read by cryptography
    for path in (plain, wrapped):
        loaded = load_public_key(path)
        assert loaded.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw) == raw
    from cryptography.hazmat.primitives.asymmetric import ec

    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="not an Ed25519 public key"):
        load_public_key(other)
