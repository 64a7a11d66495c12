"""``/metrics`` in the Prometheus text format, by prometheus_client: the histograms move with the work."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from tests.server.conftest import Env


async def scrape(env: Env) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    resp = await env.client.get("/metrics")
    assert resp.status == 200 and resp.headers["Content-Type"] == CONTENT_TYPE_LATEST  # text/plain; version=
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(await resp.text())
        for s in family.samples
    }


async def test_a_kiosk_issuance_moves_the_histograms(env: Env) -> None:
    before = await scrape(env)
    session = await env.open_session()
    assert (await env.authenticate(session)).status == 200
    resp = await env.buy(session, {"kind": "juminhyo", "copies": 1})
    assert resp.status == 201, await resp.text()
    after = await scrape(env)

    def grew(name: str, **labels: str) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert grew("konbini_issue_seconds_count", channel="kiosk") == 1
    assert grew("konbini_issue_seconds_sum", channel="kiosk") > 0
    assert grew("konbini_render_seconds_count") == 1
    assert grew("konbini_argon2_seconds_count", op="verify") == 1
    assert grew("konbini_issuances_total") == 1 and grew("konbini_kiosk_sessions_total") == 1
    assert after[("konbini_mode", (("mode", "normal"),))] == 1
    assert after[("konbini_kiosk_sessions_open", ())] >= 1
    # Histograms the registry link fills are declared even before any feed page or probe.
    assert ("konbini_feed_apply_seconds_count", ()) in after
    assert ("konbini_version_probe_seconds_count", ()) in after
