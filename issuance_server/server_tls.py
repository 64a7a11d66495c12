"""The server's side of TLS: its two CAs and certificate (made at first start in ``<data_dir>/tls``), the
listener's context (kiosks present client certificates from the kiosk CA), kiosk certificates issued at
enrolment, and the client context of the registry link.

Files in ``<data_dir>/tls`` (folder 0700, keys 0600, never overwritten):

- ``city-ca.crt`` / ``.key``: signs the server's certificate; clients (kiosks, staff, ops) trust it.
- ``kiosk-ca.crt`` / ``.key``: signs kiosk client certificates; the listener trusts only it for clients.
- ``server.crt`` / ``.key``: the listener's certificate for localhost, 127.0.0.1, ``host`` and ``tls_names``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
import logging
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from issuance_server.settings import Settings
from wire.serving import is_any_address
from wire.tls import (
    CA,
    LOOPBACK_NAMES,
    client_context,
    covers,
    ensure_ca,
    ensure_leaf,
    server_context,
)

log = logging.getLogger("konbini.tls")

CITY_CA = "city-ca"
KIOSK_CA = "kiosk-ca"


class KioskCsrError(ValueError):
    """The enrolment's certificate request is not one the kiosk CA signs."""


@dataclass(frozen=True)
class ServerTls:
    folder: Path
    city_ca: CA
    kiosk_ca: CA
    cert: Path
    key: Path

    @property
    def city_ca_path(self) -> Path:
        return self.folder / f"{CITY_CA}.crt"

    @property
    def kiosk_ca_path(self) -> Path:
        return self.folder / f"{KIOSK_CA}.crt"

    def context(self) -> ssl.SSLContext:
        """The listener's: the server certificate; client certificates optional, from the kiosk CA only."""
        return server_context(self.cert, self.key, client_ca=self.kiosk_ca_path)

    def issue_kiosk_certificate(self, kiosk_id: str, csr_pem: str, days: int) -> x509.Certificate:
        """A client certificate for ``kiosk_id`` (its common name) on the key the kiosk's request proves
        it holds; whatever else the request names is ignored."""
        try:
            csr = x509.load_pem_x509_csr(csr_pem.encode())
        except ValueError as exc:
            raise KioskCsrError("csr: not a PEM certificate signing request") from exc
        if not csr.is_signature_valid:
            raise KioskCsrError("csr: its signature does not hold")
        public_key = csr.public_key()
        if not isinstance(public_key, ec.EllipticCurvePublicKey) or public_key.curve.key_size < 256:
            raise KioskCsrError("csr: the key must be ECDSA P-256 or stronger")
        return self.kiosk_ca.issue(public_key, kiosk_id, client=True, days=days)


CLIENT_CERT_HEADER = "X-Client-Cert"
PROXY_SECRET_HEADER = "X-Konbini-Proxy-Secret"  # noqa: S105  a name or label, not a secret


def client_address(request: web.Request, proxy_secret: str) -> str:
    """The client's address: behind the TLS proxy (its secret beside it), the last ``X-Forwarded-For``
    entry, the one the proxy added (HAProxy adds a header line of its own after any the client sent, and
    a client's are never believed); otherwise the connection's peer."""
    given = request.headers.get(PROXY_SECRET_HEADER, "").encode("utf-8", "replace")
    forwarded = request.headers.getall("X-Forwarded-For", [])
    if forwarded and hmac.compare_digest(given, proxy_secret.encode()):
        return forwarded[-1].split(",")[-1].strip()[:64]
    return request.remote or ""


def forwarded_certificate(headers: Mapping[str, str], proxy_secret: str) -> bytes | None:
    """With ``plain_http`` (the server behind a TLS proxy such as HAProxy), the kiosk's client certificate
    the proxy verified, as it forwards it (``X-Client-Cert``: base64 DER, HAProxy's ``ssl_c_der,base64``),
    believed only with the proxy's secret (``secrets/proxy-secret``) beside it."""
    given = headers.get(PROXY_SECRET_HEADER, "").encode("utf-8", "replace")
    cert = headers.get(CLIENT_CERT_HEADER, "")
    if not cert or not hmac.compare_digest(given, proxy_secret.encode()):
        return None
    try:
        return base64.b64decode(cert, validate=True)
    except (binascii.Error, ValueError):
        return None


def server_names(settings: Settings) -> list[str]:
    extra = [n.strip() for n in settings.tls_names.split(",") if n.strip()]
    host = [] if is_any_address(settings.host) else [settings.host]
    return [*LOOPBACK_NAMES, *host, *extra]


def ensure_server_tls(settings: Settings) -> ServerTls:
    """Load the server's TLS files, creating what is missing (first start)."""
    folder = settings.tls_dir
    city = ensure_ca(folder, CITY_CA, f"{settings.municipality_name} konbini server CA")
    kiosk = ensure_ca(folder, KIOSK_CA, f"{settings.municipality_name} konbini kiosk CA")
    names = server_names(settings)
    cert, key = ensure_leaf(city, folder, "server", "konbini issuance server", server_names=names)
    tls = ServerTls(folder, city, kiosk, cert, key)
    missing = [n for n in names if not covers(cert, n)]
    if missing:
        log.warning(
            "the server certificate %s does not name %s: delete server.crt and server.key to have it made"
            " again at the next start",
            cert,
            ", ".join(missing),
        )
    left = x509.load_pem_x509_certificate(cert.read_bytes()).not_valid_after_utc - dt.datetime.now(dt.UTC)
    if left < dt.timedelta(days=30):
        log.warning("the server certificate %s expires in %d days", cert, left.days)
    return tls


def registry_ssl(settings: Settings) -> ssl.SSLContext | None:
    """The registry link's client context (trusts the registry's CA, presents this server's client
    certificate), or None for an http:// registry on loopback."""
    if not settings.registry_url.startswith("https://"):
        return None
    for path in (settings.registry_ca_cert, settings.registry_client_cert, settings.registry_client_key):
        if not path.exists():
            raise FileNotFoundError(
                f"registry TLS file {path} not found: start registry_sim once (it writes them) or set"
                " registry_ca_cert, registry_client_cert and registry_client_key"
            )
    return client_context(
        settings.registry_ca_cert, settings.registry_client_cert, settings.registry_client_key
    )
