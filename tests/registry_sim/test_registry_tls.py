"""registry_sim's listener context: TLS 1.2 only with AEAD suites (handshakes in memory, no socket)."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from registry_sim.tls_files import ensure_registry_tls
from wire.tls import client_context

CBC_SUITES = "ECDHE-ECDSA-AES128-SHA256:ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA"


def handshake(server_context: ssl.SSLContext, client: ssl.SSLContext) -> tuple[str, str]:
    """The suite and version a client and a server agree on; ssl.SSLError when they cannot."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    ends = [
        client.wrap_bio(to_client, to_server, server_hostname="localhost"),
        server_context.wrap_bio(to_server, to_client, server_side=True),
    ]
    pending = list(ends)
    for _ in range(10):
        for end in list(pending):
            try:
                end.do_handshake()
                pending.remove(end)
            except ssl.SSLWantReadError:
                pass
        if not pending:
            name, version, _ = ends[0].cipher() or ("", "", 0)
            return name, version
    raise AssertionError("the handshake did not finish")


@pytest.mark.parametrize(("suites", "agreed"), [(CBC_SUITES, False), ("ECDHE+AESGCM", True)])
def test_tls12_clients_get_only_aead_suites(tmp_path: Path, suites: str, agreed: bool) -> None:
    tls = ensure_registry_tls(tmp_path)
    client = client_context(tls.ca)
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    client.set_ciphers(suites)
    if agreed:
        name, version = handshake(tls.server_context(), client)
        assert version == "TLSv1.2" and "GCM" in name
    else:
        with pytest.raises(ssl.SSLError):
            handshake(tls.server_context(), client)


def test_tls13_is_unchanged(tmp_path: Path) -> None:
    tls = ensure_registry_tls(tmp_path)
    assert handshake(tls.server_context(), client_context(tls.ca))[1] == "TLSv1.3"
