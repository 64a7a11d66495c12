"""Issue 30: ``konbini-ops haproxy-config`` writes HAProxy's configuration for the nodes (0600: it holds the
proxy secret); ``haproxy -c`` accepts it, and a real HAProxy with it sends requests only to nodes whose
``/healthz`` answers, and answers ``service_unavailable`` as JSON when none does."""

from __future__ import annotations

import datetime as dt
import shutil
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from konbini_demo.processes import free_port
from recovery.cli import main as ops_main

pytestmark = pytest.mark.skipif(shutil.which("haproxy") is None, reason="haproxy is not installed")


def tls_files(folder: Path) -> tuple[Path, Path, Path]:
    """A self-signed server certificate with its key in one PEM, a CA file, and a proxy secret file."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=1)).sign(key, hashes.SHA256())
    )  # fmt: skip
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (folder / "server.pem").write_bytes(cert_pem + key_pem)
    (folder / "ca.crt").write_bytes(cert_pem)
    (folder / "proxy-secret").write_text("s3cret-for-the-test\n")
    return folder / "server.pem", folder / "ca.crt", folder / "proxy-secret"


def write_config(tmp_path: Path, nodes: list[str], bind: str) -> tuple[int, Path]:
    pem, ca, secret = tls_files(tmp_path)
    out = tmp_path / "haproxy.cfg"
    args = ["haproxy-config", "--bind", bind, "--pem", str(pem), "--kiosk-ca", str(ca)]
    args += ["--proxy-secret-file", str(secret), "--out", str(out)]
    for node in nodes:
        args += ["--node", node]
    return ops_main(args), out


def test_the_configuration_names_every_node_checked_and_haproxy_accepts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out = write_config(tmp_path, ["10.0.0.11:8080", "10.0.0.12:8080", "10.0.0.13:8080"], "127.0.0.1:8443")
    assert rc == 0, capsys.readouterr().err
    assert out.stat().st_mode & 0o777 == 0o600
    text = out.read_text()
    assert [line.split()[1:3] for line in text.splitlines() if line.strip().startswith("server ")] == [
        ["node1", "10.0.0.11:8080"], ["node2", "10.0.0.12:8080"], ["node3", "10.0.0.13:8080"],
    ]  # fmt: skip
    assert "option httpchk GET /healthz" in text and "s3cret-for-the-test" in text
    checked = subprocess.run(["haproxy", "-c", "-f", str(out)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


@pytest.mark.parametrize(
    ("node", "said"),
    [
        ("10.0.0.11", "host:port"),
        ("10.0.0.11:0", "port from 1 to 65535"),
        ("bad host:80", "a name or an address"),
    ],
)
def test_a_bad_node_is_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], node: str, said: str
) -> None:
    with pytest.raises(SystemExit) as exited:
        write_config(tmp_path, [node], "127.0.0.1:8443")
    assert exited.value.code == 2 and said in capsys.readouterr().err


def test_a_missing_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "haproxy.cfg"
    args = ["--data-dir", str(tmp_path / "var"), "haproxy-config", "--node", "10.0.0.11:8080"]
    assert ops_main([*args, "--pem", str(tmp_path / "none.pem"), "--out", str(out)]) == 2
    assert "--pem: no file" in capsys.readouterr().err and not out.exists()


def test_the_front_configuration_passes_tls_through_to_every_machine_and_haproxy_accepts_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _pem, ca, _secret = tls_files(tmp_path)
    out = tmp_path / "front.cfg"
    machines = ["10.0.1.1:8443", "10.0.1.2:8443"]
    args = ["haproxy-front-config", "--bind", "127.0.0.1:9443", "--city-ca", str(ca), "--out", str(out)]
    assert ops_main([*args, *(a for m in machines for a in ("--machine", m))]) == 0, capsys.readouterr().err
    text = out.read_text()
    assert "mode tcp" in text and "ssl crt" not in text  # passed through: the machines end TLS
    assert [line.split()[2] for line in text.splitlines() if line.strip().startswith("server ")] == machines
    assert f"check-ssl verify required ca-file {ca}" in text
    checked = subprocess.run(["haproxy", "-c", "-f", str(out)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    no_ca = ["haproxy-front-config", "--machine", machines[0], "--city-ca", str(tmp_path / "none.crt")]
    assert ops_main([*no_ca, "--out", str(tmp_path / "other.cfg")]) == 2
    assert "--city-ca: no file" in capsys.readouterr().err


class Node(BaseHTTPRequestHandler):
    """A stand-in for a server node: ``/healthz`` answers with the server's ``health`` status (503: its
    database unreachable, or draining), anything else names the node."""

    def do_GET(self) -> None:
        server = self.server
        assert isinstance(server, NodeServer)
        status, body = (server.health, b"{}") if self.path == "/healthz" else (200, server.name.encode())
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class NodeServer(ThreadingHTTPServer):
    def __init__(self, name: str, health: int) -> None:
        super().__init__(("127.0.0.1", free_port()), Node)
        self.name, self.health = name, health
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.shutdown()
        self.server_close()


def get(port: int) -> tuple[int, bytes]:
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/x", context=context, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_haproxy_sends_only_to_healthy_nodes_and_says_service_unavailable_when_none_is(
    tmp_path: Path,
) -> None:
    healthy, sick = NodeServer("healthy", 200), NodeServer("sick", 503)  # sick: its /healthz says 503
    port = free_port()
    nodes = [f"127.0.0.1:{healthy.server_port}", f"127.0.0.1:{sick.server_port}"]
    rc, out = write_config(tmp_path, nodes, f"127.0.0.1:{port}")
    assert rc == 0
    proxy = subprocess.Popen(
        ["haproxy", "-f", str(out), "-db"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        in_a_row, deadline = 0, time.monotonic() + 20
        while in_a_row < 20 and time.monotonic() < deadline:  # until the checks have taken the sick node out
            try:
                in_a_row = in_a_row + 1 if get(port) == (200, b"healthy") else 0
            except OSError:  # HAProxy still starting
                time.sleep(0.1)
        assert in_a_row == 20  # balanced over both, the sick node would have had about half
        healthy.stop()
        deadline = time.monotonic() + 20
        while (answer := get(port))[0] != 503 and time.monotonic() < deadline:
            time.sleep(0.2)
        assert answer[0] == 503
        assert orjson.loads(answer[1])["error"]["code"] == "service_unavailable"
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        sick.stop()
