"""The digital-twin part of `scanner bench`: LIO, lidar-only and kiss-icp against the truth.

Each sequence is a twin session (lidar and IMU; the camera is not needed) made once and cached.
All three methods read the same sweeps; kiss-icp deskews with the per-point times, at its
default settings, and its poses are stamped at the sweep's end, where its deskew puts them.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.balm import run_kiss_icp
from drivers.sessions.manifest import read_manifest
from drivers.sessions.replay import SessionSource
from drivers.sessions.trajectory import read_tum
from drivers.source import Sensor
from slam.config import OdometryConfig
from slam.metrics import ate_rmse
from slam.pipeline import run_lio, run_odometry

log = logging.getLogger(__name__)

SCENES = ("office", "corridor", "courtyard", "stairwell")
MOTIONS = ("walk", "aggressive")


@dataclass(frozen=True)
class TwinRow:
    sequence: str
    method: str
    ate_m: float
    ate_max_m: float
    points_per_s: float
    realtime_factor: float
    p99_latency_ms: float
    note: str = ""


def twin_session(
    cache_dir: Path,
    scene: str,
    motion: str,
    duration_s: float,
    seed: int = 0,
    realism: str = "ideal",
    note: Callable[[str], None] = log.info,
    start_m: float = 0.0,
    scene_seed: int | None = None,
) -> Path:
    """The cached twin session for a sequence (camera off), generated on first use into a
    .partial folder renamed when complete, so an interrupted generation is never taken. The
    realism profile is part of the name; long sessions report their progress. start_m and
    scene_seed: another mission over the same site (drivers/sim/twin.py)."""
    from drivers.sim.generate import SimSettings, generate_session
    from drivers.sim.realism import realism_profile

    profile = realism_profile(realism)  # ValueError for an unknown name, before any work
    name = f"{scene}-{motion}-{duration_s:g}s-{realism}-seed{seed}"
    if start_m or scene_seed is not None:
        name += f"-scene{seed if scene_seed is None else scene_seed}-from{start_m:g}m"
    path = cache_dir / name
    if (path / "ground_truth.tum").exists():
        return path
    partial = cache_dir / f"{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    note(f"generating {name} (once; cached in {cache_dir}) ...")
    last = [0]

    def progress(fraction: float) -> None:
        if int(10 * fraction) > last[0]:
            last[0] = int(10 * fraction)
            note(f"  {name}: {10 * last[0]} %")

    settings = SimSettings(
        scene=scene, seed=seed, duration_s=duration_s, motion=motion, camera_rate_hz=0.0,
        realism=profile, start_m=start_m, scene_seed=scene_seed,
    )  # fmt: skip
    generate_session(partial, settings, progress if duration_s >= 120 else None)
    shutil.rmtree(path, ignore_errors=True)
    partial.rename(path)
    return path


def run_sequence(session: Path, config: OdometryConfig, with_kiss: bool = True) -> list[TwinRow]:
    name = session.name.rsplit("-seed", 1)[0]
    t_gt, T_gt = read_tum(session / "ground_truth.tum")
    frames = list(SessionSource(session, sensors=(Sensor.lidar, Sensor.imu)).frames())
    sweeps = [t.frame for t in frames if t.sensor == Sensor.lidar]
    n_points = sum(len(s) for s in sweeps)
    span_s = (sweeps[-1].t_ns - sweeps[0].t_ns) * 1e-9 + 0.1
    T_lidar_imu = np.array(read_manifest(session).calibration.T_lidar_imu)

    def row(method: str, t_s, T, wall_s, lat, note="") -> TwinRow:
        ate = ate_rmse(t_s, T, t_gt, T_gt)
        return TwinRow(
            name,
            method,
            ate.rmse_m,
            ate.max_m,
            n_points / wall_s,
            span_s / wall_s,
            1e3 * float(np.percentile(lat, 99)),
            note,
        )

    # warm up: numba loads (or compiles) its kernels on first use; kiss-icp is compiled C++
    run_lio(frames[:700], config, T_lidar_imu, map_voxel_m=None)  # ~3 s: past initialisation
    run_odometry(frames[:120], config, map_voxel_m=None)
    rows = []
    lio = run_lio(frames, config, T_lidar_imu, map_voxel_m=None)
    rows.append(
        row(
            "scanner LIO",
            lio.t_s,
            lio.T_world_lidar,
            lio.wall_s,
            lio.latencies_s,
            f"{lio.n_degenerate} degenerate sweeps",
        )
    )
    lo = run_odometry(frames, config, map_voxel_m=None)
    rows.append(
        row(
            "scanner lidar-only",
            lo.t_s,
            lo.T_world_lidar,
            lo.wall_s,
            lo.latencies_s,
            f"{lo.n_recovered} lost priors recovered",
        )
    )
    if with_kiss:
        k = run_kiss_icp(sweeps)
        rows.append(
            row(
                f"kiss-icp {k.version}",
                k.t_s,
                k.T_world_lidar,
                k.wall_s,
                k.latencies_s,
                "default config, deskew",
            )
        )
    return rows


def format_twin_table(rows: list[TwinRow]) -> str:
    lines = [
        "| sequence | method | ATE RMSE [m] | ATE max [m] | points/s | x real time | p99 [ms] "
        "| note |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.sequence} | {r.method} | {r.ate_m:.3f} | {r.ate_max_m:.3f} | "
            f"{r.points_per_s / 1e6:.2f}M | {r.realtime_factor:.1f} | {r.p99_latency_ms:.0f} | "
            f"{r.note} |"
        )
    return "\n".join(lines) + "\n"
