"""``/healthz`` (JSON for ops and load balancers) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from issuance_server.access import PUBLIC, allow
from issuance_server.api_errors import json_response
from issuance_server.core import core_of

routes = web.RouteTableDef()


@routes.get("/healthz")
@allow(PUBLIC)
async def healthz(request: web.Request) -> web.Response:
    core = core_of(request)
    state = await core.db.fetchone(
        "SELECT replica_seq, replica_as_of, last_full_sync_at, last_error FROM sync_state"
    )
    return json_response(
        {
            "status": "ok" if core.replica.ready else "degraded",
            "mode": core.mode_state.as_json(),
            "link": core.link_status() if core.link_status else None,
            "replica": {
                "loaded": core.replica.ready,
                "seq": (core.link_status() or {}).get("replica_seq") if core.link_status else None,
                "full_sync_seq": state["replica_seq"] if state else None,
                "as_of": state["replica_as_of"] if state else None,
                "last_full_sync_at": state["last_full_sync_at"] if state else None,
                "last_error": state["last_error"] if state else None,
            },
            "open_kiosk_sessions": len(core.sessions),
        }
    )


@routes.get("/metrics")
@allow(PUBLIC)
async def metrics(request: web.Request) -> web.Response:
    """Prometheus text format (``prometheus_client``): histograms, state and counters; see metrics.py."""
    return web.Response(
        body=generate_latest(core_of(request).metrics.registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
    )


@routes.get("/openapi.yaml")
@allow(PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    text = resources.files("issuance_server").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="application/yaml")
