"""``/healthz`` (JSON for ops and load balancers) and ``/metrics`` (Prometheus text format)."""

from __future__ import annotations

from importlib import resources

from aiohttp import web

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
    core = core_of(request)
    lines = [
        "# HELP konbini_mode 1 for the server's current mode",
        "# TYPE konbini_mode gauge",
        *(f'konbini_mode{{mode="{m}"}} {int(core.mode == m)}' for m in ("normal", "recovery", "maintenance")),
        "# HELP konbini_replica_loaded 1 when a replica is attached",
        "# TYPE konbini_replica_loaded gauge",
        f"konbini_replica_loaded {int(core.replica.ready)}",
        "# TYPE konbini_kiosk_sessions_open gauge",
        f"konbini_kiosk_sessions_open {len(core.sessions)}",
    ]
    link = core.link_status() if core.link_status else {}
    gauges = {
        "konbini_registry_breaker_open": int(link.get("breaker", {}).get("state", "closed") != "closed"),
        "konbini_feed_seq_lag": link.get("seq_lag"),
        "konbini_feed_lag_seconds_p99": link.get("lag_s_p99"),
        "konbini_replica_age_seconds": link.get("replica_age_s"),
        "konbini_registry_failovers_total": link.get("failovers"),
    }
    for name, value in gauges.items():
        if value is not None:
            lines += [f"# TYPE {name} gauge", f"{name} {value}"]
    lines.append(f"konbini_mode_manual {int(core.mode_state.manual)}")
    for name, value in sorted(core.counters.items()):
        lines += [f"# TYPE konbini_{name} counter", f"konbini_{name} {value}"]
    return web.Response(text="\n".join(lines) + "\n", content_type="text/plain")


@routes.get("/openapi.yaml")
@allow(PUBLIC)
async def openapi(request: web.Request) -> web.Response:
    text = resources.files("issuance_server").joinpath("openapi.yaml").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="application/yaml")
