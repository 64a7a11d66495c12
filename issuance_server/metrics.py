"""``/metrics`` through ``prometheus_client``: histograms of the costs that matter (issuance, rendering,
argon2id, applying a feed page, the version probe) and, read at scrape time, the server's state (mode,
replica, sessions, the registry link) and its counters.

Each server core has its own registry (not the library's global one), so several apps in one process (the
tests) do not share figures.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from wire.kiosk_api import Mode

if TYPE_CHECKING:
    from issuance_server.core import ServerCore

FAST = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
SLOW = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.issue = Histogram(
            "konbini_issue_seconds", "one issuance request, from its checks to the recorded certificates",
            ["channel"], buckets=SLOW, registry=r,
        )  # fmt: skip
        self.render = Histogram(
            "konbini_render_seconds", "rendering and signing one certificate (a render thread)", buckets=SLOW,
            registry=r,
        )  # fmt: skip
        self.argon2 = Histogram(
            "konbini_argon2_seconds", "one argon2id hash or verify (PIN or password)", ["op"], buckets=FAST,
            registry=r,
        )  # fmt: skip
        self.feed_apply = Histogram(
            "konbini_feed_apply_seconds", "applying one page of the registry's change feed to the replica",
            buckets=SLOW, registry=r,
        )  # fmt: skip
        self.version_probe = Histogram(
            "konbini_version_probe_seconds", "asking the registry for the versions of the records to print",
            buckets=FAST, registry=r,
        )  # fmt: skip

    def watch(self, core: ServerCore) -> None:
        """Report the core's state at each scrape."""
        self.registry.register(_StateCollector(core))


@contextmanager
def timed(observe: Callable[[float], Any]) -> Iterator[None]:
    """``with timed(metrics.render.observe): ...`` observes the block's wall time, also when it raises."""
    started = time.perf_counter()
    try:
        yield
    finally:
        observe(time.perf_counter() - started)


class _StateCollector(Collector):
    def __init__(self, core: ServerCore) -> None:
        self.core = core

    def collect(self) -> Iterator[Metric]:
        core = self.core
        mode = GaugeMetricFamily("konbini_mode", "1 for the server's current mode", labels=["mode"])
        for m in Mode:
            mode.add_metric([m], int(core.mode == m))
        yield mode
        yield GaugeMetricFamily(
            "konbini_mode_manual", "1 while ops hold the mode by hand", int(core.mode_state.manual)
        )
        yield GaugeMetricFamily(
            "konbini_replica_loaded", "1 when a replica is attached", int(core.replica.ready)
        )
        yield GaugeMetricFamily(
            "konbini_kiosk_sessions_open", "open kiosk sessions", core.sessions.open_count
        )
        link = core.link_status() if core.link_status else {}
        if link:
            yield GaugeMetricFamily(
                "konbini_registry_breaker_open", "1 while the registry circuit breaker is not closed",
                int(link.get("breaker", {}).get("state", "closed") != "closed"),
            )  # fmt: skip
            for name, key, text in (
                ("konbini_feed_seq_lag", "seq_lag", "changes the replica is behind the registry"),
                ("konbini_feed_lag_seconds_p99", "lag_s_p99", "p99 of a change's age when applied, seconds"),
                (
                    "konbini_replica_age_seconds",
                    "replica_age_s",
                    "time since the replica last matched the registry",
                ),
            ):
                if link.get(key) is not None:
                    yield GaugeMetricFamily(name, text, float(link[key]))
            if link.get("failovers") is not None:
                yield CounterMetricFamily(
                    "konbini_registry_failovers", "switches to recovery because the registry failed",
                    int(link["failovers"]),
                )  # fmt: skip
        for name, value in sorted(core.counters.items()):
            yield CounterMetricFamily(f"konbini_{name.removesuffix('_total')}", name.replace("_", " "), value)
