"""registry_sim's TLS, made at first start in its ``tls`` folder (beside its database by default), as the
main registry's operator would hand them out:

- ``registry-ca.crt`` / ``.key``: the registry's CA; the issuance server trusts it (``registry_ca_cert``).
- ``registry.crt`` / ``.key``: the listener's certificate (localhost, 127.0.0.1 and the host it serves on).
- ``link-client.crt`` / ``.key``: the client certificate the issuance server presents on the registry link
  (``registry_client_cert`` / ``registry_client_key``); the control commands use it too.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from wire.serving import is_any_address
from wire.tls import LOOPBACK_NAMES, client_context, ensure_ca, ensure_leaf, server_context


@dataclass(frozen=True)
class RegistryTls:
    folder: Path

    @property
    def ca(self) -> Path:
        return self.folder / "registry-ca.crt"

    def server_context(self) -> ssl.SSLContext:
        """Clients may present a certificate; only one from the registry's CA verifies."""
        return server_context(self.folder / "registry.crt", self.folder / "registry.key", client_ca=self.ca)

    def client_context(self) -> ssl.SSLContext:
        """The link client's: trusts the registry's CA, presents ``link-client.crt``."""
        return client_context(self.ca, self.folder / "link-client.crt", self.folder / "link-client.key")


def ensure_registry_tls(folder: Path, host: str = "127.0.0.1") -> RegistryTls:
    ca = ensure_ca(folder, "registry-ca", "konbini registry_sim CA")
    names = [*LOOPBACK_NAMES, *([] if is_any_address(host) else [host])]
    ensure_leaf(ca, folder, "registry", "registry_sim", server_names=names)
    ensure_leaf(ca, folder, "link-client", "konbini issuance server", client=True)
    return RegistryTls(folder)


def link_context(folder: Path) -> ssl.SSLContext:
    """For a client of a running sim (control commands, tests): its files must exist."""
    tls = RegistryTls(folder)
    if not tls.ca.exists():
        raise FileNotFoundError(f"{tls.ca} not found: registry_sim writes it at its first start (serve)")
    return tls.client_context()
