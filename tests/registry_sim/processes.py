"""``python -m registry_sim serve`` as a real process for the tests, started with
``konbini_demo.processes.Service`` (its stdout and stderr in a log file of its own), serving HTTPS with
client certificates as it does by default; :func:`urlopen` reaches it as the issuance server's link does."""

from __future__ import annotations

import itertools
import ssl
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPResponse
from pathlib import Path

from konbini_demo.processes import Service, free_port
from registry_sim.tls_files import link_context

ROOT = Path(__file__).resolve().parents[2]
_starts = itertools.count(1)


@contextmanager
def serving(db: Path, *flags: str) -> Iterator[tuple[str, Service]]:
    """registry_sim serving ``db`` on a free port, once it has printed its listening line: its URL and
    the service (``.proc``; ``.log_path``, beside ``db``); killed (SIGKILL) on exit if it still runs."""
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    sim = Service(
        f"registry_sim-{next(_starts)}",  # a fresh log per start: the listening line is this one's
        ["registry_sim", "serve", "--db", str(db), "--port", str(port), *flags],
        db.parent,
        env={"PYTHONPATH": str(ROOT)},
    )
    try:
        sim.wait_log(f"registry_sim listening on {url}\n")
        _links[url] = link_context(db.parent / "tls")
        yield url, sim
    finally:
        sim.kill()
        _links.pop(url, None)


_links: dict[str, ssl.SSLContext] = {}  # a served sim's URL -> the link's client context


def urlopen(target: str | urllib.request.Request, timeout: float = 10) -> HTTPResponse:
    """``urllib.request.urlopen`` with the link's client certificate of the sim the URL names."""
    url = target.full_url if isinstance(target, urllib.request.Request) else target
    context = next(ctx for base, ctx in _links.items() if url.startswith(base))
    response: HTTPResponse = urllib.request.urlopen(target, timeout=timeout, context=context)
    return response
