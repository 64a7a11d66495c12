"""HAProxy's configuration in front of the server's nodes (``konbini-ops haproxy-config``; the demo's TLS proxy
is the same with one node).

HAProxy terminates TLS: it verifies kiosks' client certificates against the kiosk CA and forwards the
certificate with the cluster's proxy secret (``X-Client-Cert``, ``X-Konbini-Proxy-Secret``) and the client's
address (``X-Forwarded-For``, replacing any the client sent) to nodes run with ``plain_http``. It asks each
node's ``/healthz`` every second and sends nothing to a node that answers other than 200 twice (its database
unreachable, or draining); when no node is left, kiosks get the server's own ``service_unavailable`` error.

Nodes on several machines (``konbini-ops haproxy-front-config``): each machine runs its node behind its own
HAProxy as above (plain HTTP stays on the machine's loopback), and a front HAProxy passes TLS through (TCP) to
the machines, asking each machine's ``/healthz`` over TLS (the city CA) every second. A kiosk's TLS session
ends on the machine that serves it, and no personal data crosses the network unencrypted.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from wire.tls import TLS12_AEAD_CIPHERS

UNAVAILABLE: Final = (
    '{"error":{"code":"service_unavailable","message":"no server node is available; try again shortly"}}'
)


@dataclass(frozen=True)
class Node:
    host: str
    port: int

    @classmethod
    def parse(cls, text: str) -> Node:
        """``host:port`` (``ValueError`` says what is wrong)."""
        host, sep, port = text.rpartition(":")
        if not sep or not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"a node is host:port with a port from 1 to 65535, not {text!r}")
        if any(c.isspace() or c in "#'\"" for c in host):
            raise ValueError(f"a node's host is a name or an address, not {host!r}")
        return cls(host, int(port))

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def haproxy_config(
    bind: str, pem: Path, kiosk_ca: Path, proxy_secret: str, nodes: Sequence[Node], health_checks: bool = True
) -> str:
    """The whole configuration: a TLS frontend on ``bind`` (``address:port``) and a backend of ``nodes``,
    checked on ``/healthz`` unless ``health_checks`` is false (one node: its own answers are more useful)."""
    if not nodes:
        raise ValueError("HAProxy needs at least one node")
    if not proxy_secret or any(c.isspace() or c in "'\"\\" for c in proxy_secret):
        raise ValueError("the proxy secret must be one word of printable characters")
    check = " check" if health_checks else ""
    servers = "\n".join(f"    server node{n} {node}{check}" for n, node in enumerate(nodes, 1))
    return (
        _preamble("http", 2000)
        + f"""\
frontend konbini
    bind {bind} ssl crt {pem} ca-file {kiosk_ca} verify optional alpn http/1.1 ssl-min-ver TLSv1.2 ciphers {TLS12_AEAD_CIPHERS}
    http-request del-header X-Client-Cert
    http-request set-header X-Client-Cert %[ssl_c_der,base64] if {{ ssl_c_used }} {{ ssl_c_verify 0 }}
    http-request set-header X-Konbini-Proxy-Secret {proxy_secret}
    http-request set-header X-Forwarded-For %[src]
    http-error status 503 content-type application/json string '{UNAVAILABLE}'
    default_backend nodes
backend nodes
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter 1s fall 2 rise 2 init-addr libc,none
{servers}
"""
    )


def _preamble(mode: str, maxconn: int) -> str:
    """The ``global`` and ``defaults`` sections both layers share: a node that dies mid-connection is
    tried again on another (``redispatch``)."""
    return f"""\
global
    maxconn {maxconn}
defaults
    mode {mode}
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    retries 2
    option redispatch
"""


def front_config(bind: str, machines: Sequence[Node], city_ca: Path) -> str:
    """The front HAProxy's configuration: TLS passed through (TCP) on ``bind`` to ``machines`` (each a
    machine's own HAProxy), checked on ``/healthz`` over TLS trusting ``city_ca``."""
    if not machines:
        raise ValueError("the front HAProxy needs at least one machine")
    servers = "\n".join(f"    server machine{n} {m}" for n, m in enumerate(machines, 1))
    return (
        _preamble("tcp", 4000)
        + f"""\
frontend konbini_front
    bind {bind}
    default_backend machines
backend machines
    balance leastconn
    option httpchk GET /healthz
    http-check expect status 200
    default-server check check-ssl verify required ca-file {city_ca} inter 1s fall 2 rise 2 init-addr libc,none
{servers}
"""
    )
