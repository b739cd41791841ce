"""Resident memory of the LiDAR-inertial odometry over a long scan: it must stay flat.

    .venv/bin/python benchmarks/lio_memory.py [SESSION_DIR] [--minutes 20]

Without a session, a twin courtyard loop of the given length is generated first (lidar and IMU,
no camera; about 1 min of generation per minute of scan here). The session is streamed, not
loaded, and the resident memory is printed every simulated minute.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.memory import proc_status_mb
from drivers.sessions.manifest import read_manifest
from drivers.sessions.replay import SessionSource
from drivers.sessions.trajectory import read_tum
from drivers.source import Sensor
from slam.config import OdometryConfig
from slam.metrics import ate_rmse
from slam.pipeline import run_lio


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("session", nargs="?", type=Path)
    ap.add_argument("--minutes", type=float, default=20.0)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        session = args.session
        if session is None:
            from drivers.sim.generate import SimSettings, generate_session

            session = Path(tmp) / "courtyard"
            print(f"generating a {args.minutes:g} min twin courtyard loop ...")
            generate_session(
                session,
                SimSettings(
                    scene="courtyard", seed=5, camera_rate_hz=0.0, duration_s=60.0 * args.minutes
                ),
            )
        T_lidar_imu = np.array(read_manifest(session).calibration.T_lidar_imu)
        marks: list[tuple[float, float]] = []

        def on_step(n: int) -> None:
            if n % 600 == 0:
                marks.append((n / 600, proc_status_mb("VmRSS")))

        t0 = time.perf_counter()
        frames = SessionSource(session, sensors=(Sensor.lidar, Sensor.imu)).frames()
        run = run_lio(frames, OdometryConfig(), T_lidar_imu, map_voxel_m=None, on_step=on_step)
        t_gt, T_gt = read_tum(session / "ground_truth.tum")
        ate = ate_rmse(run.t_s, run.T_world_lidar, t_gt, T_gt)
        print(
            f"{len(run.t_s)} sweeps in {time.perf_counter() - t0:.0f} s; ATE {ate.rmse_m:.3f} m "
            f"(max {ate.max_m:.3f}); p99 {1e3 * np.percentile(run.latencies_s, 99):.0f} ms"
        )
        print("resident memory by minute of scan (MB):")
        for minute, mb in marks:
            print(f"  {minute:5.0f} min  {mb:7.0f}")


if __name__ == "__main__":
    main()
