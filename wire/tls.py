"""TLS for every network listener and its clients: small CAs made at first start, certificates they issue,
and the SSL contexts the server, registry_sim and the clients use.

Keys are ECDSA P-256, written 0600 in a 0700 folder and never overwritten; a certificate is issued for one
purpose (``serverAuth`` with the names it serves, or ``clientAuth`` with the client's id as its common name).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import ipaddress
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 20 * 365
SERVER_DAYS = 825
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _write_new(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def cert_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def fingerprint(der: bytes) -> str:
    """The SHA-256 fingerprint of a DER certificate, lower-case hex."""
    return hashlib.sha256(der).hexdigest()


def _name(common_name: str, org: str = "konbini") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _san(names: Iterable[str]) -> x509.SubjectAlternativeName:
    entries: list[x509.GeneralName] = []
    for name in dict.fromkeys(names):
        try:
            entries.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            entries.append(x509.DNSName(name))
    return x509.SubjectAlternativeName(entries)


@dataclass(frozen=True)
class CA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    def issue(
        self,
        public_key: ec.EllipticCurvePublicKey,
        common_name: str,
        *,
        server_names: Iterable[str] = (),
        client: bool = False,
        days: int = SERVER_DAYS,
    ) -> x509.Certificate:
        """A leaf certificate: for a server (``server_names``) or a client (``client``), not both."""
        now = dt.datetime.now(dt.UTC)
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.cert.subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True
            )
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if not client:
            builder = builder.add_extension(_san(server_names), critical=False)
        return builder.sign(self.key, hashes.SHA256())


def ensure_ca(folder: Path, stem: str, common_name: str) -> CA:
    """The CA ``<stem>.crt`` / ``<stem>.key`` in ``folder``, created on first use."""
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError(f"{key_path} is not an EC key")
        return CA(x509.load_pem_x509_certificate(cert_path.read_bytes()), key)
    if cert_path.exists() or key_path.exists():
        raise FileNotFoundError(f"{cert_path} and {key_path} must both exist (one is missing)")
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    name = _name(common_name)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_new(key_path, key_pem(key), 0o600)
    _write_new(cert_path, cert_pem(cert), 0o644)
    return CA(cert, key)


def ensure_leaf(
    ca: CA,
    folder: Path,
    stem: str,
    common_name: str,
    *,
    server_names: Iterable[str] = (),
    client: bool = False,
) -> tuple[Path, Path]:
    """``<stem>.crt`` / ``<stem>.key`` issued by ``ca``, created on first use; returns (cert, key) paths."""
    cert_path, key_path = folder / f"{stem}.crt", folder / f"{stem}.key"
    if not (cert_path.exists() and key_path.exists()):
        for path in (cert_path, key_path):
            path.unlink(missing_ok=True)  # half of a pair from an interrupted first start
        key = ec.generate_private_key(ec.SECP256R1())
        cert = ca.issue(key.public_key(), common_name, server_names=server_names, client=client)
        _write_new(key_path, key_pem(key), 0o600)
        _write_new(cert_path, cert_pem(cert), 0o644)
    return cert_path, key_path


def covers(cert_path: Path, host: str) -> bool:
    """Whether the server certificate at ``cert_path`` names ``host``."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    try:
        return ipaddress.ip_address(host) in san.get_values_for_type(x509.IPAddress)
    except ValueError:
        return host in san.get_values_for_type(x509.DNSName)


def kiosk_key_request(kiosk_id: str) -> tuple[ec.EllipticCurvePrivateKey, str]:
    """A new kiosk key and the PEM certificate request that proves it (``konbini-ops kiosk-add``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kiosk_id)]))
        .sign(key, hashes.SHA256())
    )
    return key, csr.public_bytes(serialization.Encoding.PEM).decode()


TLS12_AEAD_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"  # forward secret, authenticated encryption; no CBC


def server_context(cert: Path, key: Path, client_ca: Path | None = None) -> ssl.SSLContext:
    """A listener's context (TLS 1.2+; TLS 1.2 only with ECDHE and AES-GCM or ChaCha20-Poly1305, TLS 1.3's
    suites as OpenSSL has them). With ``client_ca``, clients *may* present a certificate that CA signed
    (one that does not verify fails the handshake); routes that need one check it themselves."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(TLS12_AEAD_CIPHERS)  # TLS 1.3's suites are set apart and stay as they are
    ctx.load_cert_chain(cert, key)
    if client_ca is not None:
        ctx.load_verify_locations(cafile=str(client_ca))
        ctx.verify_mode = ssl.CERT_OPTIONAL
    return ctx


def client_context(server_ca: Path, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    """A client's context: trusts only ``server_ca`` for the server, presents ``cert`` when given."""
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(server_ca))
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    if cert is not None:
        ctx.load_cert_chain(cert, key)
    return ctx


def peer_certificate(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> bytes | None:
    """The DER certificate the peer presented and the handshake verified, or None."""
    if ssl_object is None:
        return None
    return ssl_object.getpeercert(binary_form=True) or None
