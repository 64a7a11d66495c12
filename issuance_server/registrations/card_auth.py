"""Server-side checks of what a card presented: its certificate (trusted card CA, validity) and its
signature over the session's auth digest (PKCS#1 v1.5, SHA-256, as the JPKI authentication key signs)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
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


@dataclass(frozen=True)
class RevocationList:
    revoked: frozenset[int]  # certificate serials
    next_update: datetime


class CardTrust:
    """``crl_required``: a card is accepted only against a current CRL of the card CA (:meth:`load_crl`),
    or one at most ``max_stale_s`` past its nextUpdate."""

    def __init__(self, ca_cert_path: Path, crl_required: bool = False, max_stale_s: float = 86400) -> None:
        self.ca_cert_path = ca_cert_path
        self._ca: x509.Certificate | None = None
        self.crl_required = crl_required
        self.max_stale = timedelta(seconds=max_stale_s)
        self.crl: RevocationList | None = None

    def load_crl(self, der: bytes) -> RevocationList:
        """Take a CRL signed by the card CA (ValueError otherwise); it replaces the one held."""
        crl = x509.load_der_x509_crl(der)
        if crl.issuer != self.ca.subject or not crl.is_signature_valid(self.ca.public_key()):  # type: ignore[arg-type]
            raise ValueError("the CRL is not signed by the trusted card CA")
        if crl.next_update_utc is None:
            raise ValueError("the CRL has no nextUpdate")
        held = self.crl
        if held is not None and crl.next_update_utc < held.next_update:
            return held  # never go back to an older list
        self.crl = RevocationList(frozenset(r.serial_number for r in crl), crl.next_update_utc)
        return self.crl

    def check_revocation(self, cert: x509.Certificate, now: datetime) -> None:
        if not self.crl_required:
            return
        if self.crl is None or now > self.crl.next_update + self.max_stale:
            raise ApiError(
                503,
                ErrorCode.REVOCATION_UNKNOWN,
                "the list of revoked cards is not current, so no card can be accepted now; try again later",
            )
        if cert.serial_number in self.crl.revoked:
            raise ApiError(
                401,
                ErrorCode.CARD_REVOKED,
                "this card was revoked (reported lost or stolen); ask at the city hall",
            )

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
        self.check_revocation(cert, now)
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
