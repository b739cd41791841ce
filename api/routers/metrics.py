"""GET /metrics: Prometheus text format, read from the daemon at each scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

from device.daemon import Daemon
from device.state import State

router = APIRouter(tags=["metrics"])


class DaemonCollector:
    """Reads the daemon's status on every scrape, so the numbers are never stale."""

    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    def collect(self):
        st = self.daemon.status()
        state = GaugeMetricFamily("scanner_state", "1 for the current state", labels=["state"])
        for s in State:
            state.add_metric([s.value], 1.0 if st.state == s.value else 0.0)
        yield state
        connected = GaugeMetricFamily("scanner_sensor_connected", "sensor up", labels=["sensor"])
        rate = GaugeMetricFamily("scanner_sensor_rate_hz", "message rate", labels=["sensor"])
        drops = CounterMetricFamily("scanner_sensor_drops", "messages lost", labels=["sensor"])
        errors = CounterMetricFamily("scanner_sensor_errors", "bad messages", labels=["sensor"])
        for name, h in st.sensors.items():
            connected.add_metric([name], float(h.connected))
            rate.add_metric([name], h.rate_hz)
            drops.add_metric([name], h.drops)
            errors.add_metric([name], h.errors)
        yield from (connected, rate, drops, errors)
        free = GaugeMetricFamily("scanner_storage_free_bytes", "free space in the data directory")
        free.add_metric([], st.storage.free_bytes)
        yield free
        c = self.daemon.counters
        for name, value, doc in (
            ("scanner_scans_started", c.scans_started, "scans started"),
            ("scanner_scans_failed", c.scans_failed, "scans that ended in error"),
            ("scanner_slam_frames_dropped", c.slam_frames_dropped, "frames live SLAM missed"),
            ("scanner_button_presses", c.button_presses, "button presses, hardware and API"),
        ):
            m = CounterMetricFamily(name, doc)
            m.add_metric([], value)
            yield m
        for name, key, doc in (
            ("scanner_slam_map_points", "map_points", "points in the live map"),
            ("scanner_slam_distance_m", "distance_m", "distance walked in this scan"),
            ("scanner_slam_lag_seconds", "lag_s", "newest pose behind the sensor"),
            ("scanner_slam_realtime_factor", "realtime_factor", "sensor time / compute time"),
            ("scanner_slam_loops", "loops", "loops closed in this scan"),
            (
                "scanner_slam_last_loop_correction_m",
                "last_loop_correction_m",
                "how far the last loop closure moved the map",
            ),
        ):
            if (value := getattr(st.slam, key, None)) is not None:
                g = GaugeMetricFamily(name, doc)
                g.add_metric([], value)
                yield g


class ApiMetrics:
    """The app's own registry (nothing global, so every app and test starts clean)."""

    def __init__(self, daemon: Daemon) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(DaemonCollector(daemon))
        self.requests = Histogram(
            "scanner_http_request_seconds",
            "HTTP request latency",
            ["route", "method", "code"],
            registry=self.registry,
            buckets=(0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, 5.0),
        )
        self.auth_failures = Counter(
            "scanner_http_auth_failures", "requests refused for the token", registry=self.registry
        )
        self.live_clients = Gauge(
            "scanner_live_clients", "open live-view WebSockets", registry=self.registry
        )


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(
        generate_latest(request.app.state.metrics.registry), media_type=CONTENT_TYPE_LATEST
    )
