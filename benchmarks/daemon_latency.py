"""The daemon's response figures, with a scan running at the full sensor rate.

    .venv/bin/python benchmarks/daemon_latency.py [--scan-seconds 30] [--scene office]

Starts `scanner demo` (the twin's Mid-360 at 200k points/s, a 400 Hz serial IMU and a camera,
all through the real drivers over loopback) as a separate process, then, as a client would:
- presses the button (POST /api/v1/button) and times the first pose on the live WebSocket;
- polls GET /api/v1/status at 20 Hz and reports its latency percentiles, idle and scanning;
- reads the live view and reports its lag behind the sensor (now - the newest pose's time, the
  middle of its sweep, both on the host's monotonic clock) and its message rate.
Targets (issue 8): status p99 < 20 ms, live lag < 0.5 s, button to first pose < 3 s.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np
from websockets.sync.client import connect

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from device.live import KIND_UPDATE, unpack  # noqa: E402

TOKEN = "bench-token"


def poll_status(client: httpx.Client, seconds: float, rate_hz: float = 20.0) -> np.ndarray:
    out = []
    t_end = time.monotonic() + seconds
    while time.monotonic() < t_end:
        t0 = time.perf_counter()
        r = client.get("/api/v1/status")
        out.append(time.perf_counter() - t0)
        r.raise_for_status()
        time.sleep(max(0.0, 1.0 / rate_hz - (time.perf_counter() - t0)))
    return np.array(out)


def pct(x: np.ndarray) -> str:
    return (
        f"p50 {np.percentile(x, 50) * 1e3:.1f} ms, p99 {np.percentile(x, 99) * 1e3:.1f} ms,"
        f" max {x.max() * 1e3:.1f} ms (n={len(x)})"
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scan-seconds", type=float, default=30.0)
    ap.add_argument("--scene", default="office")
    ap.add_argument("--port", type=int, default=8181)
    args = ap.parse_args()
    url = f"http://127.0.0.1:{args.port}"
    # the demo's twin session is cached beside its data dir, so later runs start at once
    data = Path("out/bench-demo/data")
    env = {**os.environ, "SCANNER_API_TOKEN": TOKEN}
    cmd = [
        sys.executable, "-c", "from device.cli import app; app()", "demo",
        "--port", str(args.port), "--scene", args.scene, "--data-dir", str(data),
    ]  # fmt: skip
    demo = subprocess.Popen(cmd, env=env, start_new_session=True)
    try:
        run(url, args)
    finally:
        os.killpg(demo.pid, signal.SIGINT)
        demo.wait(60)


def run(url: str, args) -> None:
    client = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    deadline = time.monotonic() + 600
    while True:
        try:
            st = client.get("/api/v1/status").json()
            if all(s["connected"] for s in st["sensors"].values()) and st["sensors"]:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise SystemExit("the demo did not come up")
        time.sleep(0.5)
    time.sleep(3.0)
    idle = poll_status(client, 10.0)
    print(f"GET /status, idle:     {pct(idle)}")

    ws_url = url.replace("http://", "ws://") + f"/api/v1/live?token={TOKEN}"
    updates: list[tuple[float, dict]] = []
    stop = threading.Event()

    def read_live() -> None:
        with connect(ws_url, max_size=None) as ws:
            while not stop.is_set():
                msg = ws.recv(timeout=5.0)
                if isinstance(msg, bytes):
                    m = unpack(msg)
                    if m["kind"] == KIND_UPDATE:
                        updates.append((time.monotonic(), m))

    reader = threading.Thread(target=read_live, daemon=True)
    reader.start()
    time.sleep(1.0)
    t_press = time.monotonic()
    r = client.post("/api/v1/button", json={"press": "short"})
    print(f"button: {r.json()}")
    first = None
    while first is None and time.monotonic() - t_press < 30:
        first = next((t for t, m in updates if t > t_press and m["t_s"] > t_press), None)
        time.sleep(0.01)
    scanning = poll_status(client, args.scan_seconds)
    st = client.get("/api/v1/status").json()
    stop.set()
    reader.join(6.0)
    client.post(f"/api/v1/scans/{st['scan_id']}/stop")
    t_stop = time.monotonic()
    while client.get("/api/v1/status").json()["state"] not in ("idle", "error"):
        time.sleep(0.5)
    t_processed = time.monotonic() - t_stop
    scan = client.get(f"/api/v1/scans/{st['scan_id']}").json()

    live = [(t, m) for t, m in updates if t > t_press + 2.0 and m["t_s"] > 0]
    lag_client = np.array([t - m["t_s"] for t, m in live])
    span = live[-1][0] - live[0][0]
    print(f"GET /status, scanning: {pct(scanning)}")
    print(
        f"button -> first pose on the live view: {first - t_press:.2f} s"
        f" (daemon: {st['slam']['first_pose_s']} s)"
    )
    print(
        f"live view: {len(live) / span:.1f} messages/s; lag behind the sensor p50"
        f" {np.median(lag_client):.3f} s, p95 {np.percentile(lag_client, 95):.3f} s,"
        f" max {lag_client.max():.3f} s"
    )
    print(
        f"live SLAM: {st['slam']['mode']}, real-time factor {st['slam']['realtime_factor']},"
        f" {st['slam']['map_points']:,} live points, {st['slam']['dropped_frames']} frames"
        f" dropped; sensors {st['sensors']}"
    )
    print(f"stop -> processed: {t_processed:.1f} s; {scan['state']}, {scan['stats'].get('slam')}")


if __name__ == "__main__":
    main()
