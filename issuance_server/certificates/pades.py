"""PAdES signatures (pyHanko) for certificates handed out as PDF files, and their validation.

The city's *issuing identity* for PDFs is an ECDSA P-256 key and a self-signed X.509 certificate, kept
apart from the Ed25519 key that signs the QR records:

- ``<secrets_dir>/city-issuing-p256.pem``: the private key (PKCS#8 PEM, mode 0600), made once, never
  overwritten;
- ``<keys_dir>/city-issuing.crt``: the certificate (PEM) a verifier trusts (``konbini-verify --trust``).

A signature is PAdES B-B (``ETSI.CAdES.detached``, SHA-256, signing-certificate-v2, no timestamp): one
invisible signature over the whole file. Signing costs one pyHanko pass over the document; the space for
the signature container is measured once when the signer is loaded, which saves pyHanko's trial
signature (half the cost). :func:`sign_pdf` runs its own event loop: call it from a worker thread, not
from the server's event loop.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID, ObjectIdentifier

KEY_FILE: Final = "city-issuing-p256.pem"
CERT_FILE: Final = "city-issuing.crt"
CERT_YEARS: Final = 10
_RESERVE_MARGIN: Final = 64  # bytes over the measured container: ECDSA signatures vary by a few bytes
_FIELD: Final = "KonbiniSignature"
DOCUMENT_SIGNING: Final = ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning, RFC 9336


@dataclass(frozen=True)
class PadesSigner:
    """A loaded issuing identity, ready to sign (thread-safe: holds configuration only)."""

    pdf_signer: Any  # pyhanko.sign.signers.PdfSigner
    bytes_reserved: int  # hex digits of the /Contents placeholder
    subject: str


@dataclass(frozen=True)
class PadesResult:
    valid: bool
    reason: str | None  # None when valid, else a stable short code (see validate_pdf)
    signer: str | None  # the signing certificate's subject, when a signature was found


def key_path(secrets_dir: Path) -> Path:
    return Path(secrets_dir) / KEY_FILE


def cert_path(keys_dir: Path) -> Path:
    return Path(keys_dir) / CERT_FILE


def _load_or_make_key(path: Path) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        new = ec.generate_private_key(ec.SECP256R1())
        pem = new.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        try:  # O_EXCL: if another process made it meanwhile, theirs stands and is read below
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise ValueError(f"{path}: not an ECDSA P-256 private key")
    return key


def _self_signed(key: ec.EllipticCurvePrivateKey, municipality_name: str) -> x509.Certificate:
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, municipality_name),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{municipality_name} 証明書発行"),
        ]
    )
    now = datetime.now(UTC).replace(microsecond=0)
    public = key.public_key()
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365 * CERT_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _public_der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def create_signing_identity(secrets_dir: Path, keys_dir: Path, municipality_name: str) -> None:
    """Make the PDF issuing key and certificate if missing. Idempotent: an existing key is never
    overwritten; the certificate is (re)written only when missing or not matching the key."""
    key = _load_or_make_key(key_path(secrets_dir))
    path = cert_path(keys_dir)
    if path.exists():
        try:
            existing = x509.load_pem_x509_certificate(path.read_bytes())
            public = existing.public_key()
            if isinstance(public, ec.EllipticCurvePublicKey) and _public_der(public) == _public_der(
                key.public_key()
            ):
                return
        except ValueError:
            pass  # not a certificate: replaced below
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(_self_signed(key, municipality_name).public_bytes(serialization.Encoding.PEM))
    tmp.replace(path)


def _asn1_cert(path: Path) -> asn1_x509.Certificate:
    cert = x509.load_pem_x509_certificate(Path(path).read_bytes())
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _minimal_pdf() -> bytes:
    from reportlab.pdfgen.canvas import Canvas

    buf = io.BytesIO()
    canvas = Canvas(buf, invariant=1)
    canvas.showPage()
    canvas.save()
    return buf.getvalue()


def load_signer(secrets_dir: Path, keys_dir: Path) -> PadesSigner:
    """The signer of the identity made by :func:`create_signing_identity`; ``FileNotFoundError`` if
    missing, ``ValueError`` if the key and certificate do not match."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign import fields, signers
    from pyhanko_certvalidator.registry import SimpleCertificateStore

    key = serialization.load_pem_private_key(key_path(secrets_dir).read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{key_path(secrets_dir)}: not an ECDSA private key")
    cert = _asn1_cert(cert_path(keys_dir))
    if cert.public_key.dump() != _public_der(key.public_key()):
        raise ValueError(f"{cert_path(keys_dir)} does not match {key_path(secrets_dir)}")
    key_info = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    simple = signers.SimpleSigner(
        signing_cert=cert, signing_key=key_info, cert_registry=SimpleCertificateStore()
    )
    meta = signers.PdfSignatureMetadata(
        field_name=_FIELD, subfilter=fields.SigSeedSubFilter.PADES, md_algorithm="sha256"
    )
    pdf_signer = signers.PdfSigner(meta, signer=simple)
    # One trial signature now, to learn the container's size, so that no signing has to make one.
    trial = pdf_signer.sign_pdf(IncrementalPdfFileWriter(io.BytesIO(_minimal_pdf()))).getvalue()
    container = PdfFileReader(io.BytesIO(trial)).embedded_signatures[0].pkcs7_content
    return PadesSigner(
        pdf_signer=pdf_signer,
        bytes_reserved=2 * (len(container) + _RESERVE_MARGIN),  # pyHanko counts hex digits
        subject=cert.subject.human_friendly,
    )


def sign_pdf(pdf: bytes, signer: PadesSigner) -> bytes:
    """``pdf`` with one PAdES B-B signature over the whole file (an incremental update)."""
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

    writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
    out = signer.pdf_signer.sign_pdf(writer, bytes_reserved=signer.bytes_reserved)
    return bytes(out.getvalue())


def has_signature(pdf: bytes) -> bool:
    """Whether ``pdf`` carries any signature field with a value (a cheap look, no validation)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    try:
        return bool(PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures)
    except Exception:
        return False


def _padding_is_clean(contents: bytes) -> bool:
    """Whether the /Contents string holds the signature container and zeros after it, nothing else.

    The placeholder is not covered by the signature (it holds it), and a CMS parser ignores bytes after
    the container: without this check a changed byte there would pass unnoticed.
    """
    from asn1crypto.parser import parse

    try:
        _, _, _, header, body, trailer = parse(contents)
    except ValueError:
        return False
    return not contents[len(header) + len(body) + len(trailer) :].strip(b"\x00")


def validate_pdf(pdf: bytes, trust_cert_pem_path: Path) -> PadesResult:
    """Check the PDF's PAdES signature against the city's issuing certificate. Never raises for bad input.

    Reasons: ``unreadable_pdf``, ``no_signature``, ``several_signatures``, ``altered`` (the signed bytes
    changed), ``bad_signature``, ``untrusted_signer`` (not the trusted certificate), ``not_whole_file``
    (bytes added after the signature), ``invalid`` (anything else pyHanko refuses).
    """
    from pyhanko.pdf_utils.reader import PdfFileReader
    from pyhanko.sign.validation import validate_pdf_signature
    from pyhanko.sign.validation.status import SignatureCoverageLevel
    from pyhanko_certvalidator import ValidationContext

    trust = _asn1_cert(trust_cert_pem_path)
    try:
        signatures = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_signatures
    except Exception:
        return PadesResult(False, "unreadable_pdf", None)
    if not signatures:
        return PadesResult(False, "no_signature", None)
    if len(signatures) > 1:
        return PadesResult(False, "several_signatures", None)
    if not _padding_is_clean(signatures[0].pkcs7_content):
        return PadesResult(False, "altered", None)
    context = ValidationContext(trust_roots=[trust], allow_fetching=False)
    try:
        status = validate_pdf_signature(signatures[0], context)
    except Exception:
        return PadesResult(False, "invalid", None)
    signer = status.signing_cert.subject.human_friendly if status.signing_cert is not None else None
    if not status.intact:
        reason: str | None = "altered"
    elif not status.valid:
        reason = "bad_signature"
    elif not status.trusted:
        reason = "untrusted_signer"
    elif status.coverage != SignatureCoverageLevel.ENTIRE_FILE:
        reason = "not_whole_file"
    else:
        reason = None
    return PadesResult(reason is None, reason, signer)
