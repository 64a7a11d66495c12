"""``/healthz`` (coarse JSON for load balancers) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from issuance_server.access import PUBLIC, allow
from issuance_server.api_errors import json_response
from issuance_server.core import core_of
from issuance_server.replica import store as replica_store
from issuance_server.storage.engine import DatabaseUnavailable

routes = web.RouteTableDef()


@routes.get("/healthz")
@allow(PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    """Coarse state for load balancers and probes: no free text (ops' mode reason, link and sync errors
    are at ``/ops/api/status``)."""
    core = core_of(request)
    if core.draining:  # taken out by ops (konbini-ops drain): requests in progress still finish
        return json_response({"status": "draining", "mode": core.mode}, 503)
    try:
        state = await core.db.read(replica_store.sync_state)
    except DatabaseUnavailable:  # kiosks get service_unavailable meanwhile; it comes back by itself
        return json_response({"status": "unavailable", "mode": core.mode, "database": "unreachable"}, 503)
    return json_response(
        {
            # degraded: no replica yet, or kiosks held by a broken audit trail (why: ops status)
            "status": "ok" if core.replica.ready and core.guard.hold is None else "degraded",
            "mode": core.mode,
            "replica": {"loaded": core.replica.ready, "as_of": state["replica_as_of"] if state else None},
        }
    )


@routes.get("/metrics")
@allow(PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format (``prometheus_client``): histograms, state and counters; see metrics.py."""
    core = core_of(request)
    await core.sessions.count_open()
    return web.Response(
        body=generate_latest(core.metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


@routes.get("/openapi.yaml")
@allow(PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    text = resources.files("issuance_server").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="application/yaml")
