"""HAProxy terminating TLS in front of a server run with ``plain_http`` on loopback, as a load balancer in
front of several servers would, with the configuration ``konbini-ops haproxy-config`` writes
(``recovery.haproxy``) for one node."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from issuance_server.secrets_store import write_private
from konbini_demo.processes import Service, ServiceError, free_port
from recovery.haproxy import Node, haproxy_config


def start_tls_proxy(server_dir: Path, backend_port: int, log_dir: Path) -> tuple[Service, int]:
    """HAProxy on a free loopback port with the server's certificate; returns it and its port."""
    tls, folder = server_dir / "tls", server_dir / "haproxy"
    pem, cfg = folder / "server.pem", folder / "haproxy.cfg"
    for path in (pem, cfg):
        path.unlink(missing_ok=True)
    write_private(pem, (tls / "server.crt").read_bytes() + (tls / "server.key").read_bytes())
    port = free_port()
    secret = (server_dir / "secrets" / "proxy-secret").read_text().strip()
    # One node: its own answers (service_unavailable and all) are more useful than HAProxy's checks.
    text = haproxy_config(
        f"127.0.0.1:{port}",
        pem,
        tls / "kiosk-ca.crt",
        secret,
        [Node("127.0.0.1", backend_port)],
        health_checks=False,
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
