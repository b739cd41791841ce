"""`scanner bench`: our odometry and kiss-icp on the same scans in the same run.

The data is the real BALM walk (120 scans, 0.5 s apart, with reference poses). Both methods
get the same arrays in memory; only their odometry is timed. Accuracy is ATE against the
reference (evo, SE(3) alignment) and the sharpness of the map each trajectory makes.
"""

from __future__ import annotations

import logging
import resource
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from drivers.frames import LidarSweep
from drivers.scan_folder import ScanFolderSource
from drivers.sessions.trajectory import read_tum, write_tum
from slam.config import OdometryConfig
from slam.metrics import ate_rmse, map_sharpness
from slam.pipeline import run_odometry

log = logging.getLogger(__name__)

QUICK_SCANS = 20


@dataclass(frozen=True)
class BenchRow:
    method: str
    ate_m: float
    thickness_cm: float
    entropy: float
    wall_s: float
    points_per_s: float
    note: str = ""


def balm_to_scan_folder(balm_dir: Path, out_dir: Path) -> Path:
    """Write the packed BALM scans as binary PCDs + times.txt (what balm_to_pcd.py writes)."""
    from pypcd4 import PointCloud

    files = sorted(balm_dir.glob("scan_*.npz"))
    if not files:
        raise FileNotFoundError(f"{balm_dir}: no scan_*.npz files")
    done = out_dir / "times.txt"
    if done.exists() and len(done.read_text().split()) == len(files):
        return out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    times = []
    for k, f in enumerate(files):
        with np.load(f) as z:
            xyzi = np.column_stack([z["xyz_2mm"] * 0.002, z["intensity"]]).astype(np.float32)
            PointCloud.from_xyzi_points(xyzi).save(out_dir / f"{k:06d}.pcd")
            times.append(float(z["t"]))
    done.write_text("".join(f"{t:.6f}\n" for t in times))
    return out_dir


@dataclass(frozen=True)
class KissRun:
    t_s: np.ndarray  # [N] pose times: the sweep's end, where kiss-icp's deskew puts the pose
    T_world_lidar: np.ndarray  # [N, 4, 4]
    wall_s: float  # time in register_frame only
    latencies_s: np.ndarray  # [N]
    version: str


def run_kiss_icp(sweeps: Iterable[LidarSweep]) -> KissRun:
    """kiss-icp at its default settings, deskewing with per-point times when sweeps have them
    (any iterable: a stream of sweeps is never held whole)."""
    from importlib.metadata import version

    from kiss_icp.config import load_config
    from kiss_icp.kiss_icp import KissICP

    odom = KissICP(load_config(None))
    t_s, poses, lat = [], [], []
    for s in sweeps:
        stamps = s.point_dt_s.astype(np.float64) if s.point_dt_s is not None else np.zeros(0)
        frame = np.ascontiguousarray(s.xyz_m, dtype=np.float64)
        t0 = time.perf_counter()
        odom.register_frame(frame, stamps)
        lat.append(time.perf_counter() - t0)
        t_s.append(s.t_s + (float(s.point_dt_s.max()) if s.point_dt_s is not None else 0.0))
        poses.append(odom.last_pose.copy())
    return KissRun(
        np.array(t_s), np.array(poses), float(np.sum(lat)), np.array(lat), version("kiss-icp")
    )


def run_bench(
    data_dir: Path,
    out_file: Path,
    config: OdometryConfig,
    quick: bool = False,
    cache_dir: Path | None = None,
) -> list[BenchRow]:
    out_file.parent.mkdir(parents=True, exist_ok=True)
    folder = balm_to_scan_folder(data_dir, (cache_dir or out_file.parent / "cache") / "balm_pcd")
    frames = list(ScanFolderSource(folder).frames())
    if quick:
        frames = frames[:QUICK_SCANS]
    sweeps = [t.frame for t in frames]
    t_ref, T_ref = read_tum(data_dir / "reference_poses.tum")
    scans = [s.xyz_m for s in sweeps]
    n_points = sum(len(s) for s in sweeps)
    t_s = np.array([s.t_s for s in sweeps])
    log.info("bench: %d scans, %d points from %s", len(sweeps), n_points, data_dir)

    ours = run_odometry(frames, config, map_voxel_m=None)
    slam_T, slam_wall, slam_note = _run_with_loops(frames, config, len(sweeps))
    kiss = run_kiss_icp(sweeps)

    rows = []
    stem = out_file.with_suffix("")
    for method, T, wall, note in (
        (
            "scanner (lidar-only)",
            ours.T_world_lidar,
            ours.wall_s,
            f"{ours.n_recovered} lost priors recovered",
        ),
        ("scanner+loops (lidar-only)", slam_T, slam_wall, slam_note),
        (f"kiss-icp {kiss.version}", kiss.T_world_lidar, kiss.wall_s, "default config"),
    ):
        ate = ate_rmse(t_s, T, t_ref, T_ref)
        sharp = map_sharpness(scans, T)
        rows.append(
            BenchRow(
                method,
                ate.rmse_m,
                sharp.plane_thickness_median_m * 100,
                sharp.entropy_mean,
                wall,
                n_points / wall,
                note,
            )
        )
        write_tum(f"{stem}.{method.split()[0].replace('+', '-')}.tum", t_s, T)
    ref_idx = np.searchsorted(t_ref, t_s - 1e-3)
    sharp = map_sharpness(scans, T_ref[ref_idx])
    rows.append(
        BenchRow(
            "reference poses",
            0.0,
            sharp.plane_thickness_median_m * 100,
            sharp.entropy_mean,
            float("nan"),
            float("nan"),
            "BALM's initial poses",
        )
    )

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    table = format_table(rows, len(sweeps), n_points, peak_rss_mb)
    out_file.write_text(table)
    return rows


def _run_with_loops(frames, config: OdometryConfig, n_scans: int):
    """The same odometry with the global mapping (submaps, loops, pose graph; not levelled:
    lidar-only) -> (T_world_lidar [N, 4, 4], wall s, note)."""
    import tempfile

    from products.map import ProductsConfig
    from slam.config import MappingConfig
    from slam.pipeline import run_mapping

    with tempfile.TemporaryDirectory(prefix="balm-submaps-") as tmp:
        run, result = run_mapping(
            frames, config, MappingConfig(), Path(tmp) / "s", ProductsConfig().submap_content()
        )
    if len(result.t_s) != n_scans:
        raise RuntimeError(f"{n_scans - len(result.t_s)} scans were not registered")
    note = f"{result.n_submaps} submaps, {len(result.loops)} loops, {result.rejected} refused"
    return result.T_world_lidar, run.wall_s + result.meta["mapping_s"], note


def format_table(rows: list[BenchRow], n_scans: int, n_points: int, peak_rss_mb: float) -> str:
    lines = [
        f"BALM real scans: {n_scans} scans, {n_points:,} points; peak RSS {peak_rss_mb:.0f} MB",
        "",
        "| method | ATE RMSE [m] | plane thickness, median [cm] | map entropy, mean | wall [s] |"
        " points/s | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        wall = "-" if np.isnan(r.wall_s) else f"{r.wall_s:.2f}"
        pps = "-" if np.isnan(r.points_per_s) else f"{r.points_per_s / 1e6:.2f}M"
        ate = "-" if r.method == "reference poses" else f"{r.ate_m:.3f}"
        lines.append(
            f"| {r.method} | {ate} | {r.thickness_cm:.2f} | {r.entropy:.3f} | {wall} |"
            f" {pps} | {r.note} |"
        )
    return "\n".join(lines) + "\n"
