"""PAdES: the city's PDF issuing identity, signing, and validation that catches any change."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from pypdf import PdfReader
from pypdf.generic import ArrayObject, DictionaryObject

from issuance_server.certificates import pades
from issuance_server.certificates.document import RenderedCertificate
from issuance_server.certificates.render import CertificateRequest
from tests.certificates.conftest import pdftotext, request

RenderReq = Callable[[CertificateRequest], RenderedCertificate]


@pytest.fixture(scope="module")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("pades")
    pades.create_signing_identity(root / "secrets", root / "keys", "鹿児島市")
    return root / "secrets", root / "keys"


@pytest.fixture(scope="module")
def signer(identity: tuple[Path, Path]) -> pades.PadesSigner:
    return pades.load_signer(*identity)


@pytest.fixture(scope="module")
def signed(signer: pades.PadesSigner, issuing_key: object) -> bytes:
    from issuance_server.certificates.render import render_certificate

    cert = render_certificate(request("tax_income"), issuing_key)  # type: ignore[arg-type]
    return pades.sign_pdf(cert.pdf, signer)


def test_identity_files_and_modes(identity: tuple[Path, Path]) -> None:
    secrets_dir, keys_dir = identity
    key = secrets_dir / pades.KEY_FILE
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    cert = x509.load_pem_x509_certificate((keys_dir / pades.CERT_FILE).read_bytes())
    assert "鹿児島市" in cert.subject.rfc4514_string()
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and usage.content_commitment
    assert pades.CERT_FILE == "city-issuing.crt"


def test_create_is_idempotent_and_never_overwrites_the_key(tmp_path: Path) -> None:
    secrets_dir, keys_dir = tmp_path / "s", tmp_path / "k"
    pades.create_signing_identity(secrets_dir, keys_dir, "鹿児島市")
    key_before = (secrets_dir / pades.KEY_FILE).read_bytes()
    cert_before = (keys_dir / pades.CERT_FILE).read_bytes()
    pades.create_signing_identity(secrets_dir, keys_dir, "鹿児島市")
    assert (secrets_dir / pades.KEY_FILE).read_bytes() == key_before
    assert (keys_dir / pades.CERT_FILE).read_bytes() == cert_before
    (keys_dir / pades.CERT_FILE).unlink()  # a lost certificate is made again for the same key
    pades.create_signing_identity(secrets_dir, keys_dir, "鹿児島市")
    assert (secrets_dir / pades.KEY_FILE).read_bytes() == key_before
    pades.load_signer(secrets_dir, keys_dir)


def test_mismatched_certificate_is_refused(tmp_path: Path, identity: tuple[Path, Path]) -> None:
    other = tmp_path / "other"
    pades.create_signing_identity(other / "s", other / "k", "鹿児島市")
    with pytest.raises(ValueError, match="does not match"):
        pades.load_signer(identity[0], other / "k")


def test_signed_pdf_validates(signed: bytes, identity: tuple[Path, Path], tmp_path: Path) -> None:
    result = pades.validate_pdf(signed, identity[1] / pades.CERT_FILE)
    assert result == pades.PadesResult(True, None, result.signer)
    assert result.signer is not None and "鹿児島市" in result.signer
    path = tmp_path / "signed.pdf"
    path.write_bytes(signed)
    assert "所得額証明書" in pdftotext(path)  # still the same document
    root = PdfReader(path).trailer["/Root"]
    assert isinstance(root, DictionaryObject)
    form = root["/AcroForm"]
    assert isinstance(form, DictionaryObject)
    fields = form["/Fields"]
    assert isinstance(fields, ArrayObject)
    sig = fields[0].get_object()["/V"]
    assert sig["/SubFilter"] == "/ETSI.CAdES.detached"  # PAdES


def test_one_changed_byte_anywhere_in_the_signed_range_is_caught(
    signed: bytes, identity: tuple[Path, Path]
) -> None:
    trust = identity[1] / pades.CERT_FILE
    start, length = signed.index(b"/Contents <"), 0
    contents_end = signed.index(b">", start)
    positions = [
        len(signed) // 10,
        len(signed) // 3,
        len(signed) // 2,
        start - 200,
        contents_end + 50,
        len(signed) - 30,
    ]
    for position in positions:
        assert not start <= position <= contents_end  # inside the signed bytes
        tampered = bytearray(signed)
        tampered[position] ^= 0x01
        result = pades.validate_pdf(bytes(tampered), trust)
        assert not result.valid, position
        length += 1
    assert length == len(positions)


@pytest.mark.parametrize("where", [200, -10])  # in the container; in the zeros after it
def test_changed_signature_bytes_are_caught(where: int, signed: bytes, identity: tuple[Path, Path]) -> None:
    start = signed.index(b"/Contents <") + len(b"/Contents <")
    at = start + where if where > 0 else signed.index(b">", start) + where
    tampered = bytearray(signed)
    tampered[at] = ord("0") if tampered[at] != ord("0") else ord("1")
    assert not pades.validate_pdf(bytes(tampered), identity[1] / pades.CERT_FILE).valid


def test_appended_update_is_not_the_whole_file(signed: bytes, identity: tuple[Path, Path]) -> None:
    from io import BytesIO

    from pyhanko.pdf_utils import generic
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(BytesIO(signed))
    info = writer.root  # a harmless-looking change after signing
    info["/Lang"] = generic.TextStringObject("en")
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    result = pades.validate_pdf(out.getvalue(), identity[1] / pades.CERT_FILE)
    assert not result.valid and result.reason == "not_whole_file"


def test_other_trust_anchor_is_untrusted(signed: bytes, tmp_path: Path) -> None:
    pades.create_signing_identity(tmp_path / "s", tmp_path / "k", "鹿児島市")
    result = pades.validate_pdf(signed, tmp_path / "k" / pades.CERT_FILE)
    assert (result.valid, result.reason) == (False, "untrusted_signer")


def test_unsigned_and_unreadable(identity: tuple[Path, Path], render_req: RenderReq) -> None:
    trust = identity[1] / pades.CERT_FILE
    plain = render_req(request("inkan")).pdf
    assert not pades.has_signature(plain)
    assert pades.validate_pdf(plain, trust) == pades.PadesResult(False, "no_signature", None)
    assert pades.validate_pdf(b"%PDF-1.4 garbage", trust).reason in ("unreadable_pdf", "no_signature")


def test_every_kind_signs(
    signer: pades.PadesSigner, identity: tuple[Path, Path], render_req: RenderReq
) -> None:
    from tests.certificates.conftest import KINDS

    for kind in KINDS:
        signed = pades.sign_pdf(render_req(request(kind)).pdf, signer)
        assert pades.has_signature(signed)
        assert pades.validate_pdf(signed, identity[1] / pades.CERT_FILE).valid, kind
