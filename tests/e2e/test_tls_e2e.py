"""TLS across the real processes: what a relay between kiosk and server sees, who the server lets in as a
kiosk, ``konbini-ops kiosk-remove``, and registry_sim asking for the link's client certificate."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import json
import os
import shutil
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from konbini_demo.processes import free_port
from konbini_demo.soft_kiosk import SoftKiosk
from konbini_demo.stack import Stack
from konbini_demo.tls_proxy import start_tls_proxy
from registry_sim.generator import DEMO_ATENA_NO
from tests.e2e.stacks import demo_kiosk, running_stack
from wire.http_json import HttpError
from wire.kiosk_client import KioskClient, KioskCredentials
from wire.tls import client_context, ensure_ca, ensure_leaf

pytestmark = pytest.mark.e2e


class Relay:
    """A TCP relay on the path between a kiosk and the server that keeps every byte it passes."""

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.seen = bytearray()
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._target = target_port
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                with self._lock:
                    self.seen += data
                dst.sendall(data)
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()


def test_a_relay_between_kiosk_and_server_sees_no_pin_and_no_certificate(stack: Stack) -> None:
    kiosk = demo_kiosk(stack)
    relay = Relay(stack.server_port)
    try:
        kiosk.creds = dataclasses.replace(kiosk.creds, server=f"https://127.0.0.1:{relay.port}")
        result = kiosk.session()
    finally:
        relay.close()
    assert "serial" in result, result
    assert len(relay.seen) > 20_000  # the PDF went through the relay
    for clear in (b'"pin"', kiosk.pin.encode(), b"%PDF-", b"X-Kiosk-Id", b"/api/kiosk/v1", b"HTTP/1.1"):
        assert clear not in relay.seen, clear


def open_session(creds: KioskCredentials) -> dict[str, object]:
    async def run() -> dict[str, object]:
        async with KioskClient(creds) as api:
            return await api.open_session()

    return asyncio.run(run())


def test_only_an_enrolled_kiosk_certificate_opens_a_session(stack: Stack, tmp_path: Path) -> None:
    out = tmp_path / "kiosk-rm.json"
    stack.ops("kiosk-add", "kiosk-rm", "--out", str(out))
    creds = KioskCredentials.load(out)
    assert "session_id" in open_session(creds)
    # No client certificate: the server's CA is trusted, but the kiosk route refuses.
    request = urllib.request.Request(f"{stack.server_url}/api/kiosk/v1/sessions", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, context=ssl.create_default_context(cafile=str(stack.server_ca)))
    assert refused.value.code == 401 and json.load(refused.value)["error"]["code"] == "kiosk_unauthorized"
    # A certificate for the same kiosk id from another CA does not get through the handshake.
    rogue = ensure_ca(tmp_path / "rogue", "rogue-ca", "rogue CA")
    cert, key = ensure_leaf(rogue, tmp_path / "rogue", "kiosk-rm", "kiosk-rm", client=True)
    with pytest.raises(HttpError) as exc:
        open_session(dataclasses.replace(creds, client_cert=cert, client_key=key))
    assert exc.value.code == "server_unreachable"
    # Plain HTTP to the server's port is not served.
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        urllib.request.urlopen(f"http://127.0.0.1:{stack.server_port}/healthz", timeout=5).read()
    # Removed: refused at the next request although the certificate has not expired.
    done = stack.ops("kiosk-remove", "kiosk-rm")
    assert "refused from now on" in done.stdout
    with pytest.raises(HttpError) as exc:
        open_session(creds)
    assert exc.value.code == "kiosk_unauthorized"
    listed = stack.ops("kiosks").stdout
    assert "kiosk-rm" in listed and "removed" in listed and "kiosk-001" in listed


def test_registry_sim_asks_for_the_link_certificate(stack: Stack) -> None:
    trust_only = client_context(stack.registry_tls / "registry-ca.crt")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{stack.registry_url}/snapshot", context=trust_only)
    assert refused.value.code == 403
    assert json.load(refused.value)["error"]["code"] == "client_certificate_required"
    with urllib.request.urlopen(f"{stack.registry_url}/crl/card-ca.crl", context=trust_only) as resp:
        assert resp.status == 200  # a CRL is public: J-LIS publishes it to anyone
    # The server follows the registry over TLS with its client certificate: a change upstream is applied,
    # and an issuance probes the record's version (both timed in /metrics).
    registry = stack.registry()
    person = registry.call("GET", f"/records/resident/{DEMO_ATENA_NO}")
    registry.call(
        "POST",
        "/control/apply",
        {"changes": [{"op": "upsert", "record": {**person, "version": person["version"] + 1}}]},
    )
    kiosk = SoftKiosk(stack, DEMO_ATENA_NO, name="metrics")
    kiosk.register()
    assert "serial" in kiosk.session()
    status = stack.ops_status()
    assert status["mode"]["mode"] == "normal" and status["link"]["registry_seq"] is not None
    samples = {
        s.name: s.value
        for family in text_string_to_metric_families(stack.server_client().fetch("/metrics").decode())
        for s in family.samples
    }
    assert (
        samples["konbini_feed_apply_seconds_count"] >= 1
        and samples["konbini_version_probe_seconds_count"] >= 1
    )


def test_every_file_the_processes_write_is_theirs_alone(stack: Stack) -> None:
    """Server, registry_sim, the card CA, kiosk enrolment and the logs: files 0600, folders 0700 (umask 077),
    so another local user reads no 個人番号, hash, key or PDF."""
    printer = stack.root / "printed"  # the virtual printer's paper (cups-pdf's files), not a process's files
    written = [p for p in stack.root.rglob("*") if p != printer and printer not in p.parents]
    names = {p.name for p in written}
    assert {"konbini.sqlite3", "konbini.sqlite3-wal", "registry.sqlite3", "server.key", "city-ca.key",
            "link-client.key", "kiosk-001.key", "ca.key", "ops-token", "server.log"} <= names  # fmt: skip
    assert any(p.parent.name == "replica" for p in written)
    loose = [f"{p.relative_to(stack.root)} {p.stat().st_mode & 0o777:o}" for p in written
             if p.stat().st_mode & 0o077]  # fmt: skip
    assert loose == []
    if shutil.which("runuser") and os.geteuid() == 0:
        db = stack.server_dir / "konbini.sqlite3"
        as_nobody = subprocess.run(
            ["runuser", "-u", "nobody", "--", "head", "-c", "16", str(db)], capture_output=True
        )
        assert as_nobody.returncode != 0 and b"SQLite" not in as_nobody.stdout


def test_behind_haproxy_a_kiosk_still_authenticates_by_its_certificate(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with running_stack(
        tmp_path_factory.mktemp("proxied"), server_settings={"KONBINI_PLAIN_HTTP": "1"}
    ) as stack:
        proxy, port = start_tls_proxy(stack.server_dir, stack.server_port, stack.logs)
        stack.services["haproxy"] = proxy
        kiosk = demo_kiosk(stack)
        kiosk.creds = dataclasses.replace(kiosk.creds, server=f"https://127.0.0.1:{port}")
        result = kiosk.session()
        assert "serial" in result, result
        # The plain port believes a forwarded certificate only with the proxy's secret.
        cert = (kiosk.creds.client_cert).read_text()
        der = ssl.PEM_cert_to_DER_cert(cert)
        forged = urllib.request.Request(
            f"{stack.server_url}/api/kiosk/v1/sessions",
            data=b"{}",
            method="POST",
            headers={"X-Client-Cert": base64.b64encode(der).decode()},
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(forged)
        assert refused.value.code == 401
        # Through the proxy without a client certificate: refused too.
        no_cert = urllib.request.Request(f"https://127.0.0.1:{port}/api/kiosk/v1/sessions", data=b"{}")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(no_cert, context=ssl.create_default_context(cafile=str(stack.server_ca)))
        assert refused.value.code == 401


def test_konbini_ops_writes_haproxy_a_configuration_and_drains_the_node_through_it(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """Issue 30, across real processes: the configuration ``konbini-ops haproxy-config`` writes runs HAProxy
    in front of the node (checked on /healthz); ``konbini-ops drain`` takes it out (kiosks then get
    service_unavailable from HAProxy, as JSON) and ``drain --undo`` puts it back."""
    with running_stack(
        tmp_path_factory.mktemp("drained"), server_settings={"KONBINI_PLAIN_HTTP": "1"}
    ) as stack:
        tls = stack.server_dir / "tls"
        pem, cfg, port = stack.root / "haproxy.pem", stack.root / "haproxy.cfg", free_port()
        pem.write_bytes((tls / "server.crt").read_bytes() + (tls / "server.key").read_bytes())
        pem.chmod(0o600)
        wrote = stack.ops(
            "haproxy-config", "--node", f"127.0.0.1:{stack.server_port}", "--bind", f"127.0.0.1:{port}",
            "--pem", str(pem), "--out", str(cfg),
        )  # fmt: skip
        assert "1 node(s)" in wrote.stdout and cfg.stat().st_mode & 0o777 == 0o600
        proxy = subprocess.Popen(
            ["haproxy", "-f", str(cfg), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            kiosk = demo_kiosk(stack)
            kiosk.creds = dataclasses.replace(kiosk.creds, server=f"https://127.0.0.1:{port}")
            assert "serial" in wait_for_session(kiosk)
            assert "draining" in stack.ops("drain").stdout
            assert "draining" in stack.ops("status").stdout
            refused = wait_for_session(kiosk, until=lambda r: r.get("error") == "service_unavailable")
            assert refused.get("error") == "service_unavailable", refused
            assert "serving" in stack.ops("drain", "--undo").stdout
            assert "serial" in wait_for_session(kiosk)
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)


def wait_for_session(
    kiosk: SoftKiosk, until: Callable[[dict[str, Any]], bool] = lambda r: "serial" in r, timeout_s: float = 20
) -> dict[str, Any]:
    """Kiosk sessions until one ends as ``until`` says (HAProxy takes two checks, a second apart, to
    change its mind); the last one's result, or its error code as ``{"error": code}``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = dict(kiosk.session())
        except HttpError as exc:
            result = {"error": exc.code}
        except OSError as exc:  # HAProxy still starting
            result = {"error": type(exc).__name__}
        if until(result) or time.monotonic() > deadline:
            return result
        time.sleep(0.3)
