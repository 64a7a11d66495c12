"""Server-side checks of what a card or phone presented: its certificate (the trusted card CA or smartphone
CA, validity, revocation; a phone's form by its certificate policy) and its signature over the session's auth
digest (PKCS#1 v1.5, SHA-256, as the JPKI authentication key signs)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from issuance_server.api_errors import ApiError
from wire.credentials import Form, PinPolicy, phone_form_of
from wire.kiosk_api import ErrorCode

log = logging.getLogger("konbini.credentials")


@dataclass(frozen=True)
class CardIdentity:
    """A credential as its certificate names it: a card, or a phone of one form."""

    fingerprint: str  # sha256 of the certificate DER, hex: the registration key
    serial: str  # the card id (certificate subject CN)
    not_after: datetime
    form: Form = Form.CARD
    cert_serial: str = ""  # the certificate's serial number, hex (what a clerk may read out)


@dataclass(frozen=True)
class RevocationList:
    revoked: frozenset[int]  # certificate serials
    next_update: datetime


class CardTrust:
    """One CA's certificates (the card CA's, or the smartphone CA's: ``what``). ``crl_required``: a
    certificate is accepted only against a current CRL of the CA (:meth:`load_crl`), or one at most
    ``max_stale_s`` past its nextUpdate."""

    def __init__(
        self, ca_cert_path: Path, crl_required: bool = False, max_stale_s: float = 86400, what: str = "card"
    ) -> None:
        self.ca_cert_path = ca_cert_path
        self.what = what
        self._ca: x509.Certificate | None = None
        self.crl_required = crl_required
        self.max_stale = timedelta(seconds=max_stale_s)
        self.crl: RevocationList | None = None

    def load_crl(self, der: bytes) -> RevocationList:
        """Take a CRL signed by the card CA (ValueError otherwise); it replaces the one held."""
        crl = x509.load_der_x509_crl(der)
        if crl.issuer != self.ca.subject or not crl.is_signature_valid(self.ca.public_key()):  # type: ignore[arg-type]
            raise ValueError(f"the CRL is not signed by the trusted {self.what} CA")
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
                f"the list of revoked {self.what}s is not current, so no {self.what} can be accepted now;"
                " try again later",
            )
        if cert.serial_number in self.crl.revoked:
            raise ApiError(
                401,
                ErrorCode.CARD_REVOKED,
                f"this {self.what} was revoked (reported lost or stolen); ask at the city hall",
            )

    @property
    def installed(self) -> bool:
        return self._ca is not None or self.ca_cert_path.exists()

    @property
    def ca(self) -> x509.Certificate:
        if self._ca is None:
            if not self.ca_cert_path.exists():
                raise ApiError(
                    503,
                    "card_ca_missing",
                    f"trusted {self.what} CA certificate {self.ca_cert_path} is not installed",
                )
            try:
                self._ca = x509.load_pem_x509_certificate(self.ca_cert_path.read_bytes())
            except (OSError, ValueError):
                raise ApiError(
                    503,
                    "card_ca_unusable",
                    f"the trusted {self.what} CA certificate {self.ca_cert_path} cannot be read",
                ) from None
        return self._ca

    def check_certificate(self, der: bytes, now: datetime) -> tuple[x509.Certificate, CardIdentity]:
        return self.check_parsed(parse_certificate(der), der, now)

    def check_parsed(
        self, cert: x509.Certificate, der: bytes, now: datetime
    ) -> tuple[x509.Certificate, CardIdentity]:
        try:
            # Issuer name, then the CA's signature with the algorithm the certificate names; anything the
            # library cannot check (an odd algorithm, a forged structure) counts as untrusted.
            cert.verify_directly_issued_by(self.ca)
        except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
            raise ApiError(
                401, ErrorCode.CERT_UNTRUSTED, f"the {self.what} was not issued by the trusted {self.what} CA"
            ) from None
        if not (cert.not_valid_before_utc <= now <= cert.not_valid_after_utc):
            raise ApiError(
                401, ErrorCode.CERT_EXPIRED, f"the {self.what} certificate is not valid now (expired?)"
            )
        self.check_revocation(cert, now)
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        serial = str(cns[0].value) if cns else format(cert.serial_number, "x")
        identity = CardIdentity(
            hashlib.sha256(der).hexdigest(), serial, cert.not_valid_after_utc,
            cert_serial=format(cert.serial_number, "x"),
        )  # fmt: skip
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


def parse_certificate(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise ApiError(400, ErrorCode.CERT_INVALID, "the certificate cannot be parsed") from None


class CredentialTrust:
    """The two kinds of credential a resident presents: the card (the card CA's certificate) and a phone (the
    smartphone CA's, whose certificate policy names its form: ``forms``); ``pin`` says per phone form whether
    the registered PIN is asked. The issuer decides which CA checks a certificate; a smartphone certificate
    naming no form the city knows is refused."""

    def __init__(
        self,
        card: CardTrust,
        phone: CardTrust,
        forms: Mapping[Form, str],
        pin: Mapping[Form, PinPolicy],
    ) -> None:
        self.card = card
        self.phone = phone
        self.forms = dict(forms)
        self.pin = {Form.CARD: PinPolicy.REQUIRED, **pin}
        self._said_unreadable = False

    def phones_accepted(self) -> bool:
        """The smartphone CA is installed and readable (a damaged one refuses phones, never cards)."""
        if not self.phone.installed:
            return False
        try:
            self.phone.ca  # noqa: B018  loaded (and kept) here, or refused
        except ApiError:
            if not self._said_unreadable:  # said once, not at every card's sign-in
                self._said_unreadable = True
                log.error(
                    "the smartphone CA certificate %s cannot be read: phones are refused",
                    self.phone.ca_cert_path,
                )
            return False
        return True

    def check_certificate(self, der: bytes, now: datetime) -> tuple[x509.Certificate, CardIdentity]:
        cert = parse_certificate(der)
        if not (self.phones_accepted() and cert.issuer == self.phone.ca.subject):
            return self.card.check_parsed(cert, der, now)
        cert, identity = self.phone.check_parsed(cert, der, now)
        form = phone_form_of(cert, self.forms)
        if form is None:
            raise ApiError(
                401, ErrorCode.CERT_UNTRUSTED,
                "the smartphone certificate names no smartphone form this city accepts (its policy OID)",
            )  # fmt: skip
        return cert, dataclasses.replace(identity, form=form)

    def pin_required(self, form: Form) -> bool:
        return self.pin.get(form, PinPolicy.REQUIRED) is PinPolicy.REQUIRED

    def for_kiosks(self) -> list[dict[str, Any]]:
        """What a kiosk needs before the PIN step: per phone form its policy OID and PIN policy."""
        return [
            {"form": form.value, "policy_oid": oid, "pin": self.pin[form].value}
            for form, oid in self.forms.items()
            if self.phones_accepted()
        ]
