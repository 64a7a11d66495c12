"""The demo card CA and smartphone CA (the stand-ins for J-LIS's) and personalisation of virtual cards
and phones.

``init_ca`` creates ``ca.key`` (0600) and ``ca.crt`` (PEM) once; ``issue_card`` makes a card file holding
both halves of the JPKI application: an RSA-2048 authentication key and certificate with the 4-digit PIN,
and an RSA-2048 signature key and certificate with the signature password, both certificates signed by
that CA, and the CA certificate. A phone (``form`` android or iphone, from the smartphone CA that
``init_ca(phone=True)`` makes) has the same JPKI application, no identity application, and certificates that
name their form in a certificate policy (:mod:`wire.credentials`).
"""

from __future__ import annotations

import json
import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devices.card import profile as p
from devices.card.virtual.state import CardState, IdentityHalf, SignatureHalf, save_state
from wire import card_identity
from wire.card_identity import CardIdentity
from wire.credentials import DEMO_POLICY_OIDS, Form

CA_KEY_NAME: Final = "ca.key"
CA_CERT_NAME: Final = "ca.crt"
CA_COMMON_NAME: Final = "konbini demo JPKI card CA"
PHONE_CA_COMMON_NAME: Final = "konbini demo JPKI smartphone CA"
CA_VALID_DAYS: Final = 20 * 365
_PIN_RE: Final = re.compile(r"[0-9]{4}")
_CARD_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SIGN_PASSWORD_RE: Final = re.compile(rf"[A-Z0-9]{{{p.SIGN_PASSWORD_MIN},{p.SIGN_PASSWORD_MAX}}}")
_GENERATED_PASSWORD_LENGTH: Final = 16


class CardCaError(Exception):
    """The CA folder is incomplete or unreadable; the message says what to do."""


def validate_pin(pin: str) -> str:
    """Return ``pin`` if it is exactly 4 ASCII digits, else raise ValueError."""
    if not isinstance(pin, str) or not _PIN_RE.fullmatch(pin):
        raise ValueError("the PIN must be exactly 4 digits (0-9)")
    return pin


class SignPasswordFormatError(ValueError):
    """The signature password is not 6-16 upper-case letters and digits."""

    code: Final = "sign_password_format"

    def __init__(self) -> None:
        super().__init__(
            f"the signature password must be {p.SIGN_PASSWORD_MIN}-{p.SIGN_PASSWORD_MAX} upper-case letters "
            "(A-Z) and digits (0-9)"
        )


def validate_sign_password(password: str) -> str:
    """Return ``password`` if it is 6-16 of A-Z and 0-9, else raise :class:`SignPasswordFormatError`."""
    if not isinstance(password, str) or not _SIGN_PASSWORD_RE.fullmatch(password):
        raise SignPasswordFormatError()
    return password


def new_sign_password() -> str:
    """A random signature password: 16 upper-case letters and digits."""
    return "".join(secrets.choice(p.SIGN_PASSWORD_ALPHABET) for _ in range(_GENERATED_PASSWORD_LENGTH))


def new_card_id(form: Form = Form.CARD) -> str:
    """A random card id such as ``JPKI-3F2A9C0D11E4B7A5`` (a phone's: ``PHONE-...``)."""
    return ("JPKI-" if form is Form.CARD else "PHONE-") + secrets.token_hex(8).upper()


def _write_new(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def init_ca(dir: Path, *, phone: bool = False) -> None:
    """Create the CA key and self-signed certificate in ``dir`` unless both exist; never overwrites.
    ``phone``: the smartphone CA (its own name, its own CRL), else the card CA."""
    key_path, cert_path = dir / CA_KEY_NAME, dir / CA_CERT_NAME
    if key_path.exists() and cert_path.exists():
        return
    if key_path.exists() or cert_path.exists():
        raise CardCaError(f"{dir} holds only one of {CA_KEY_NAME} and {CA_CERT_NAME}; restore or remove it")
    dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "JP"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "konbini demo (not J-LIS)"),
            x509.NameAttribute(NameOID.COMMON_NAME, PHONE_CA_COMMON_NAME if phone else CA_COMMON_NAME),
        ]
    )
    now = datetime.now(UTC).replace(microsecond=0)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=CA_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_new(key_path, _private_pem(key), 0o600)
    _write_new(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    if phone:
        (dir / CRL_URL_NAME).write_text(DEFAULT_PHONE_CRL_URL + "\n")
    write_crl(dir)


CRL_NAME = "crl.der"
REVOKED_NAME = "revoked.json"
CRL_URL_NAME = "crl-url"
DEFAULT_CRL_URL = "https://127.0.0.1:8471/crl/card-ca.crl"  # registry_sim stands in for J-LIS
DEFAULT_PHONE_CRL_URL = "https://127.0.0.1:8471/crl/phone-ca.crl"
CRL_VALID = timedelta(days=1)


def crl_url(ca_dir: Path) -> str:
    """Where the CA's CRL is published (``<ca_dir>/crl-url``, else registry_sim's default address)."""
    path = ca_dir / CRL_URL_NAME
    return path.read_text().strip() if path.exists() else DEFAULT_CRL_URL


def write_crl(ca_dir: Path) -> Path:
    """(Re)sign the CA's CRL of revoked cards, valid for a day; returns its path (``crl.der``)."""
    ca_key, ca_cert = load_ca(ca_dir)
    revoked_path = ca_dir / REVOKED_NAME
    revoked = json.loads(revoked_path.read_text()) if revoked_path.exists() else []
    now = datetime.now(UTC).replace(microsecond=0)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(now - timedelta(minutes=1))
        .next_update(now + CRL_VALID)
    )
    for item in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(int(item["serial"]))
            .revocation_date(datetime.fromisoformat(item["at"]))
            .build()
        )
    crl = builder.sign(ca_key, hashes.SHA256())
    path = ca_dir / CRL_NAME
    tmp = path.with_suffix(".part")
    tmp.write_bytes(crl.public_bytes(serialization.Encoding.DER))
    tmp.replace(path)
    return path


def revoke(ca_dir: Path, certificate_der: bytes) -> int:
    """Revoke a card (lost or stolen): its certificate's serial joins the CRL, which is re-signed."""
    cert = x509.load_der_x509_certificate(certificate_der)
    revoked_path = ca_dir / REVOKED_NAME
    revoked = json.loads(revoked_path.read_text()) if revoked_path.exists() else []
    if all(int(item["serial"]) != cert.serial_number for item in revoked):
        revoked.append({"serial": str(cert.serial_number), "at": datetime.now(UTC).isoformat()})
        revoked_path.write_text(json.dumps(revoked, indent=1))
    write_crl(ca_dir)
    return cert.serial_number


def load_ca(ca_dir: Path) -> tuple[rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, x509.Certificate]:
    """The CA key and certificate from ``ca_dir``."""
    try:
        key_pem = (ca_dir / CA_KEY_NAME).read_bytes()
        cert_pem = (ca_dir / CA_CERT_NAME).read_bytes()
    except FileNotFoundError:
        raise CardCaError(
            f"no card CA in {ca_dir}; create it with `konbini-card init-ca --dir {ca_dir}`"
        ) from None
    # the demo CA's own key, made by init_ca (0600): RSA's consistency check skipped, as in own_rsa_key
    key = serialization.load_pem_private_key(key_pem, password=None, unsafe_skip_rsa_key_validation=True)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CardCaError(f"{ca_dir / CA_KEY_NAME} is not an RSA or EC key")
    return key, x509.load_pem_x509_certificate(cert_pem)


def _private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _card_certificate(
    ca_dir: Path,
    subject_key: rsa.RSAPrivateKey,
    card_id: str,
    start: datetime,
    valid_days: int,
    *,
    signature: bool,
    form: Form = Form.CARD,
) -> x509.Certificate:
    """A card certificate from the demo CA: the authentication one (digitalSignature, clientAuth) or the
    signature one (digitalSignature + nonRepudiation, as a JPKI signature certificate). A phone's names its
    form in a certificate policy."""
    ca_key, ca_cert = load_ca(ca_dir)
    usage = x509.KeyUsage(True, signature, False, False, False, False, False, False, False)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, card_id)]))
        .issuer_name(ca_cert.subject)
        .public_key(subject_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .add_extension(
            x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(crl_url(ca_dir))], None, None, None)]
            ),
            critical=False,
        )
    )
    if not signature:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    if form is not Form.CARD:
        policy = x509.PolicyInformation(x509.ObjectIdentifier(DEMO_POLICY_OIDS[form]), None)
        builder = builder.add_extension(x509.CertificatePolicies([policy]), critical=False)
    return builder.sign(ca_key, hashes.SHA256())


def issue_card(
    ca_dir: Path,
    out_file: Path,
    pin: str,
    card_id: str | None = None,
    valid_days: int = 1825,
    not_before: datetime | None = None,
    *,
    sign_password: str | None = None,
    overwrite: bool = False,
    identity: CardIdentity | None = None,
    identity_pin: str | None = None,
    form: Form = Form.CARD,
) -> str:
    """Personalise a virtual card into ``out_file`` (0600) and return its card id.

    Both certificates have subject CN = card id and a random serial, and are valid from ``not_before``
    (default now; naive means UTC) for ``valid_days``. ``sign_password`` (6-16 of A-Z 0-9) is generated
    when None; it is kept only in the card file. ``identity`` fills the 券面事項入力補助 application (signed
    by the CA, as J-LIS signs a real card's), its PIN ``identity_pin`` (default: ``pin``). ``form``: a
    phone's (``ca_dir`` is then the smartphone CA; a phone has no identity application).
    """
    if form is not Form.CARD and identity is not None:
        raise ValueError("a phone carries no identity application (券面事項入力補助): leave --identity out")
    validate_pin(pin)
    sign_password = (
        validate_sign_password(sign_password) if sign_password is not None else new_sign_password()
    )
    card_id = card_id if card_id is not None else new_card_id(form)
    if not _CARD_ID_RE.fullmatch(card_id):
        raise ValueError("the card id must be 1-64 characters of A-Z a-z 0-9 . _ - (starting alphanumeric)")
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    if out_file.exists() and not overwrite:
        raise FileExistsError(f"{out_file} already exists; choose another file (a card file is a card)")
    ca_key, ca_cert = load_ca(ca_dir)
    ca_der = ca_cert.public_bytes(serialization.Encoding.DER)
    identity_half = None
    if identity is not None:
        if not isinstance(ca_key, rsa.RSAPrivateKey):
            raise CardCaError("the identity application needs an RSA card CA key")
        validate_pin(identity_pin or pin)
        basic_four = card_identity.basic_four_file(identity)
        identity_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        identity_half = IdentityHalf(
            basic_four, card_identity.signature_file(basic_four, ca_key, identity_key.public_key()),
            identity_pin or pin, card_identity.IDENTITY_PIN_MAX_TRIES, _private_pem(identity_key),
        )  # fmt: skip
    start = not_before if not_before is not None else datetime.now(UTC).replace(microsecond=0)
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    auth_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    sign_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth_cert = _card_certificate(ca_dir, auth_key, card_id, start, valid_days, signature=False, form=form)
    sign_cert = _card_certificate(ca_dir, sign_key, card_id, start, valid_days, signature=True, form=form)
    state = CardState(
        card_id=card_id,
        private_key_pem=_private_pem(auth_key),
        certificate_der=auth_cert.public_bytes(serialization.Encoding.DER),
        ca_certificate_der=ca_der,
        pin=pin,
        tries_left=p.PIN_MAX_TRIES,
        signature=SignatureHalf(
            private_key_pem=_private_pem(sign_key),
            certificate_der=sign_cert.public_bytes(serialization.Encoding.DER),
            ca_certificate_der=ca_der,
            password=sign_password,
            tries_left=p.SIGN_PASSWORD_MAX_TRIES,
        ),
        identity=identity_half,
        form=form.value,
    )
    save_state(out_file, state)
    return card_id
