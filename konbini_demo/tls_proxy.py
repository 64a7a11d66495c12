"""HAProxy terminating TLS in front of a server run with ``plain_http`` on loopback, as a load balancer in
front of several servers would: it verifies kiosks' client certificates against the server's kiosk CA and
forwards the certificate with the server's proxy secret (``X-Client-Cert``, ``X-Konbini-Proxy-Secret``) and
the client's address (``X-Forwarded-For``, replacing any the client sent)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from issuance_server.secrets_store import write_private
from konbini_demo.processes import Service, ServiceError, free_port
from wire.tls import TLS12_AEAD_CIPHERS

CONFIG = """\
global
    maxconn 2000
defaults
    mode http
    timeout connect 5s
    timeout client 60s
    timeout server 60s
frontend konbini
    bind 127.0.0.1:{port} ssl crt {pem} ca-file {kiosk_ca} verify optional alpn http/1.1 ssl-min-ver TLSv1.2 ciphers {ciphers}
    http-request del-header X-Client-Cert
    http-request set-header X-Client-Cert %[ssl_c_der,base64] if {{ ssl_c_used }} {{ ssl_c_verify 0 }}
    http-request set-header X-Konbini-Proxy-Secret {secret}
    http-request set-header X-Forwarded-For %[src]
    default_backend server
backend server
    server konbini 127.0.0.1:{backend}
"""


def start_tls_proxy(server_dir: Path, backend_port: int, log_dir: Path) -> tuple[Service, int]:
    """HAProxy on a free loopback port with the server's certificate; returns it and its port."""
    tls, folder = server_dir / "tls", server_dir / "haproxy"
    pem, cfg = folder / "server.pem", folder / "haproxy.cfg"
    for path in (pem, cfg):
        path.unlink(missing_ok=True)
    write_private(pem, (tls / "server.crt").read_bytes() + (tls / "server.key").read_bytes())
    port = free_port()
    secret = (server_dir / "secrets" / "proxy-secret").read_text().strip()
    text = CONFIG.format(
        port=port,
        pem=pem,
        kiosk_ca=tls / "kiosk-ca.crt",
        secret=secret,
        backend=backend_port,
        ciphers=TLS12_AEAD_CIPHERS,  # as the server's own listener
    )
    write_private(cfg, text.encode())
    svc = Service("haproxy", ["haproxy", "-f", str(cfg), "-db"], log_dir, raw=True)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if svc.proc.poll() is not None:
            raise ServiceError(f"haproxy exited with {svc.proc.returncode}; see {svc.log_path}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return svc, port
        except OSError:
            time.sleep(0.05)
    svc.stop()
    raise ServiceError(f"haproxy did not listen on {port}; see {svc.log_path}")
