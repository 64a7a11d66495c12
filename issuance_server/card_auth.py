"""Server-side checks of what a card presented: its certificate (trusted card CA, validity) and its
signature over the session's auth digest (PKCS#1 v1.5, SHA-256, as the JPKI authentication key signs)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from issuance_server.api_errors import ApiError
from wire.kiosk_api import ErrorCode


@dataclass(frozen=True)
class CardIdentity:
    fingerprint: str  # sha256 of the certificate DER, hex: the registration key
    serial: str  # the card id (certificate subject CN)
    not_after: datetime


class CardTrust:
    def __init__(self, ca_cert_path: Path) -> None:
        self.ca_cert_path = ca_cert_path
        self._ca: x509.Certificate | None = None

    @property
    def ca(self) -> x509.Certificate:
        if self._ca is None:
            if not self.ca_cert_path.exists():
                raise ApiError(
                    503,
                    "card_ca_missing",
                    f"trusted card CA certificate {self.ca_cert_path} is not installed",
                )
            self._ca = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
        return self._ca

    def check_certificate(self, der: bytes, now: datetime) -> tuple[x509.Certificate, CardIdentity]:
        try:
            cert = x509.load_der_x509_certificate(der)
        except ValueError:
            raise ApiError(400, ErrorCode.CERT_INVALID, "the card certificate cannot be parsed") from None
        try:
            # Issuer name, then the CA's signature with the algorithm the certificate names; anything the
            # library cannot check (an odd algorithm, a forged structure) counts as untrusted.
            cert.verify_directly_issued_by(self.ca)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            raise ApiError(
                401, ErrorCode.CERT_UNTRUSTED, "the card was not issued by the trusted card CA"
            ) from None
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise ApiError(
                401, ErrorCode.CERT_EXPIRED, "the card certificate is not valid now (expired card?)"
            )
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        serial = str(cns[0].value) if cns else format(cert.serial_number, "x")
        identity = CardIdentity(hashlib.sha256(der).hexdigest(), serial, cert.not_valid_after_utc)
        return cert, identity

    @staticmethod
    def check_signature(cert: x509.Certificate, digest_message: bytes, signature: bytes) -> None:
        """``digest_message`` is the auth message; the card signed SHA-256 of it in a DigestInfo."""
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ApiError(400, ErrorCode.CERT_INVALID, "the card key is not RSA")
        try:
            key.verify(signature, digest_message, padding.PKCS1v15(), hashes.SHA256())
        except InvalidSignature:
            raise ApiError(401, ErrorCode.SIGNATURE_INVALID, "the card's signature does not verify") from None
