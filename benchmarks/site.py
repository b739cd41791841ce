"""The site part of `scanner bench`: ours (the LIO alone, and with loop closure), kiss-icp, rko_lio
and kiss-slam on long twin walks with a real unit's errors (the `datasheet` realism profile),
against the truth.

Sequences: the campus (a 30-minute walk) and the courtyard (60 s), each a twin session (lidar and
IMU, camera off) generated once and cached under a name that carries the realism profile.

Each method runs in its own process (multiprocessing, spawn), fed by streaming the session
(SessionSource: one sweep at a time, never the whole recording in memory), so that its peak
resident memory is its own: VmHWM of that process (the high-water mark of its address space; a
spawned child's ru_maxrss would start from the parent's peak). The methods:

* scanner LIO: slam.pipeline.run_lio with the scanner's config, after a warm-up on the first
  700 frames in the same process (numba loads its kernels); poses at each sweep's middle.
* scanner SLAM: the same filter with the global mapping (slam/mapping.py: submaps at the
  products' resolution written to disk, loops by position and by appearance verified by
  small_gicp, the GTSAM pose graph by iSAM2 and a final batch), as the live worker runs it;
  the poses through the optimised submap anchors; its time includes the mapping's.
* kiss-icp (lidar only): its default config, deskewing with the per-point times; poses at the
  sweep's end (benchmarks.balm.run_kiss_icp).
* rko_lio (PRBonn's LiDAR-inertial odometry, pip `rko-lio`): its default LIOConfig; the base
  frame is the lidar's, so its poses are T_world_lidar; the IMU samples go in with
  extrinsic_imu2base = the session's T_lidar_imu (rko_lio adds the lever-arm terms), in m/s^2
  and rad/s, stamped in ns; each sweep goes in with absolute per-point ns stamps once every IMU
  sample before the sweep's end is in (its own Sequencer's order); poses at the sweep's last
  point. Without its initialization_phase its world is the first scan's frame (no gravity
  alignment): the metrics align rigidly, so that does not matter.
* kiss-slam (PRBonn's lidar SLAM with loop closure, pip `kiss-slam`; lidar only): its default
  config (kiss_slam.config.load_config(None)): its odometry is kiss-icp's at kiss-icp's defaults
  (max range 100 m, so a 1.0 m voxel; deskew with the per-point times), local maps of 0.5 m
  voxels cut every 100 m of straight-line distance from the map's start, closures between
  local maps from map_closures (density maps of 0.5 m, 5 inliers) accepted at 40 % overlap after
  Open3D's point-to-plane ICP, a pose graph of 10 iterations. Each sweep goes in through
  KissSLAM.process_scan with its per-point times (seconds after the sweep's start); at the end,
  as its own SlamPipeline does, the last local map is closed (one more closure query, and the
  graph optimised again on a closure), and the poses are those of its fine-grained optimisation:
  every sweep's pose in one graph, chained by its odometry steps, each local map's end held at
  its loop-closed keypose times the map's own odometry (benchmarks.site.run_kiss_slam). Its
  poses are kiss-icp's, at the sweep's end (the last point: kiss-icp deskews onto it, as in the
  kiss-icp method), before the graph moves them. A walk that never gets 100 m from a local map's
  start stays in one or two local maps: no closure is found, and its poses are the odometry's
  (the 60 s courtyard and the 120 s campus).

Columns: ATE RMSE and max (SE(3) alignment over the whole walk, slam.metrics.ate_rmse); the
end-to-end drift (slam.metrics.end_drift: aligned on the first 5 s, the final position error as
% of the distance walked) and the Z drift (final z error, and the largest |z error|, same
alignment); points/s (the session's points over the method's own processing time, reading the
session excluded); peak RSS in MB (and, in brackets, the RSS when processing started: imports,
the warm-up). Each method's trajectory is written as TUM beside the table.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np

from benchmarks.memory import proc_status_mb
from benchmarks.twin import twin_session
from drivers.frames import ImuSample, LidarSweep
from drivers.sessions.manifest import read_manifest
from drivers.sessions.replay import SessionSource
from drivers.sessions.trajectory import read_tum, write_tum
from drivers.source import Sensor
from slam.config import OdometryConfig
from slam.metrics import ate_rmse, end_drift, relative_error

log = logging.getLogger(__name__)

METHODS = ("scanner-lio", "scanner-slam", "kiss-icp", "rko-lio", "kiss-slam")
ALIGN_S = 5.0  # the end-to-end drift aligns the first seconds
WARMUP_FRAMES = 700  # ours: ~3 s of lidar and IMU, past the LIO's initialisation


@dataclass(frozen=True)
class SiteSequence:
    scene: str
    duration_s: float
    motion: str = "walk"
    seed: int = 0


SEQUENCES = (SiteSequence("campus", 1800.0), SiteSequence("courtyard", 60.0))


@dataclass(frozen=True)
class MethodRun:
    """What one method's process hands back."""

    method: str  # its name and version, as the table shows it
    t_s: np.ndarray  # [N] pose times, the recording's clock
    T_world_lidar: np.ndarray  # [N, 4, 4]
    n_points: int  # points fed
    wall_s: float  # the method's own processing time
    peak_rss_mb: float  # VmHWM of its process
    start_rss_mb: float  # VmRSS when processing started
    note: str = ""
    revisit_thickness_m: float = float("nan")  # where the walk revisits (ours with submaps)


@dataclass(frozen=True)
class SiteRow:
    sequence: str
    method: str
    ate_m: float
    ate_max_m: float
    drift_pct: float
    drift_m: float
    z_end_m: float
    z_max_m: float
    path_m: float
    points_per_s: float
    realtime_factor: float
    peak_rss_mb: float
    start_rss_mb: float
    note: str = ""
    revisit_thickness_m: float = float("nan")
    # vertical RMS error over stretches of RELATIVE_M walked (slam.metrics.relative_error): the
    # height error between two control points that far apart; NaN for a shorter walk
    z_relative_m: float = float("nan")


RELATIVE_M = 100.0


def site_session(
    cache_dir: Path, seq: SiteSequence, realism: str, note: Callable[[str], None] = log.info
) -> Path:
    """The cached session for a sequence under a realism profile (benchmarks.twin)."""
    return twin_session(cache_dir, seq.scene, seq.motion, seq.duration_s, seq.seed, realism, note)


def _frames(session: Path) -> Iterator:
    return SessionSource(session, sensors=(Sensor.lidar, Sensor.imu)).frames()


def _sweeps(session: Path) -> Iterator[LidarSweep]:
    for tagged in SessionSource(session, sensors=(Sensor.lidar,)).frames():
        yield tagged.frame


class _Counted:
    """Sweeps passed through, their points counted."""

    def __init__(self, sweeps: Iterable[LidarSweep]) -> None:
        self.sweeps, self.n_points = sweeps, 0

    def __iter__(self) -> Iterator[LidarSweep]:
        for s in self.sweeps:
            self.n_points += len(s)
            yield s


def _warm_up(session: Path, config: OdometryConfig) -> np.ndarray:
    """The LIO on the first frames, so numba loads its kernels before the timing (-> the
    session's T_lidar_imu [4, 4])."""
    from slam.pipeline import run_lio

    T_lidar_imu = np.array(read_manifest(session).calibration.T_lidar_imu)
    quiet = logging.getLogger("slam")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # the cut-off warm-up's last sweep has no IMU after it
    try:
        run_lio(islice(_frames(session), WARMUP_FRAMES), config, T_lidar_imu, map_voxel_m=None)
    finally:
        quiet.setLevel(level)
    return T_lidar_imu


def _run_ours(session: Path, config: OdometryConfig) -> MethodRun:
    from slam.pipeline import run_lio

    T_lidar_imu = _warm_up(session, config)
    start = proc_status_mb("VmRSS")
    lio = run_lio(_frames(session), config, T_lidar_imu, map_voxel_m=None)
    return MethodRun(
        "scanner LIO",
        lio.t_s,
        lio.T_world_lidar,
        lio.n_points_in,
        lio.wall_s,
        proc_status_mb("VmHWM"),
        start,
        f"{lio.n_degenerate} degenerate sweeps",
    )


def _run_ours_slam(session: Path, config: OdometryConfig) -> MethodRun:
    """Ours with the global mapping: the LIO's steps into submaps, loops by position and by
    appearance, the GTSAM pose graph optimised at the end (slam/mapping.py), as the live
    worker runs it. The submaps go to a temporary folder; the time is the filter's and the
    mapping's together."""
    import tempfile

    from products.map import ProductsConfig
    from slam.config import MappingConfig
    from slam.pipeline import run_mapping

    T_lidar_imu = _warm_up(session, config)
    start = proc_status_mb("VmRSS")
    with tempfile.TemporaryDirectory(prefix="site-submaps-") as tmp:
        run, result = run_mapping(
            _frames(session),
            config,
            MappingConfig(),
            Path(tmp) / "submaps",
            ProductsConfig().submap_content(),
            T_lidar_imu,
        )
        peak_mb = proc_status_mb("VmHWM")
        t_gt, T_gt = read_tum(session / "ground_truth.tum")
        pairs = revisits(result, t_gt, T_gt)
        thick = revisit_thickness_m(result, pairs, result.T_world_anchor)
        thick_odo = revisit_thickness_m(result, pairs, result.T_world_anchor_odometry)
    mapping_s = result.meta["mapping_s"]
    kinds = collections.Counter(lc.kind for lc in result.loops)
    return MethodRun(
        "scanner SLAM",
        result.t_s,
        result.T_world_lidar,
        run.n_points_in,
        run.wall_s + mapping_s,
        peak_mb,
        start,
        f"{result.n_submaps} submaps, {len(result.loops)} loops"
        f" ({kinds['position']} by position, {kinds['appearance']} by appearance),"
        f" {result.rejected} refused; mapping {mapping_s:.0f} s; {len(pairs)} revisits,"
        f" {100 * thick_odo:.1f} cm thick by the odometry alone",
        thick,
    )


def revisits(
    result,  # slam.mapping.MappingResult
    t_gt: np.ndarray,  # [G]
    T_gt: np.ndarray,  # [G, 4, 4]
    max_dist_m: float = 5.0,
    min_path_m: float = 30.0,
    max_pairs: int = 40,
) -> list[tuple[int, int]]:
    """Submaps that truly revisit an earlier one (-> (i, j), i < j): their anchors lie within
    `max_dist_m` of each other, by the ground truth, after at least `min_path_m` of walking.
    Each later submap with its nearest earlier one, spread evenly over the walk."""
    first = np.searchsorted(result.submap_of_pose, np.arange(result.n_submaps))
    t_anchor = result.t_s[np.minimum(first, len(result.t_s) - 1)]
    k = np.clip(np.searchsorted(t_gt, t_anchor), 0, len(t_gt) - 1)
    xyz = T_gt[k, :3, 3]  # [K, 3]
    steps = np.linalg.norm(np.diff(T_gt[:, :3, 3], axis=0), axis=1)
    path = np.concatenate([[0.0], np.cumsum(steps)])[k]  # [K]
    pairs = []
    for j in range(len(xyz)):
        d = np.linalg.norm(xyz[:j] - xyz[j], axis=1)
        ok = (d < max_dist_m) & (path[j] - path[:j] >= min_path_m)
        if ok.any():
            pairs.append((int(np.flatnonzero(ok)[np.argmin(d[ok])]), j))
    if len(pairs) > max_pairs:
        pairs = [pairs[int(i)] for i in np.linspace(0, len(pairs) - 1, max_pairs)]
    return pairs


def revisit_thickness_m(result, pairs: Sequence[tuple[int, int]], T_world_anchor) -> float:
    """The median local plane thickness (slam.metrics.revisit_thickness) over every revisit,
    each pair's submaps placed at `T_world_anchor` [K, 4, 4]; nan when none overlaps."""
    from slam.metrics import revisit_thickness
    from slam.se3 import transform
    from slam.submaps import load_member, submap_path

    samples = []
    for i, j in pairs:
        a, b = (load_member(submap_path(result.folder, k), "xyz_m") for k in (i, j))
        samples.append(
            revisit_thickness(transform(T_world_anchor[i], a), transform(T_world_anchor[j], b))
        )
    pooled = np.concatenate(samples) if samples else np.zeros(0)
    return float(np.median(pooled)) if len(pooled) else float("nan")


def _run_kiss(session: Path) -> MethodRun:
    from benchmarks.balm import run_kiss_icp

    start = proc_status_mb("VmRSS")
    sweeps = _Counted(_sweeps(session))
    k = run_kiss_icp(sweeps)
    return MethodRun(
        f"kiss-icp {k.version}",
        k.t_s,
        k.T_world_lidar,
        sweeps.n_points,
        k.wall_s,
        proc_status_mb("VmHWM"),
        start,
        "lidar only, default config, deskew",
    )


def _run_rko(session: Path) -> MethodRun:
    from importlib.metadata import version

    from rko_lio import LIO
    from rko_lio.config import LIOConfig
    from scipy.spatial.transform import Rotation

    T_lidar_imu = np.array(read_manifest(session).calibration.T_lidar_imu)  # imu -> base
    lio = LIO(LIOConfig())  # its defaults
    start = proc_status_mb("VmRSS")
    pending: collections.deque[LidarSweep] = collections.deque()
    wall = 0.0
    n_points = dropped = 0

    def register(s: LidarSweep) -> None:
        nonlocal wall, n_points, dropped
        n_points += len(s)
        stamps = s.t_ns + np.round(s.point_dt_s.astype(np.float64) * 1e9).astype(np.int64)
        t0 = time.perf_counter()
        try:
            lio.register_scan(s.xyz_m, stamps)
        except Exception as exc:  # rko_lio's InputError (too few points): it drops the scan
            dropped += 1
            log.debug("rko_lio dropped sweep %d: %s", s.index, exc)
        wall += time.perf_counter() - t0

    for tagged in _frames(session):
        frame = tagged.frame
        if isinstance(frame, LidarSweep):
            if frame.point_dt_s is None or len(frame) == 0:
                continue
            pending.append(frame)
            continue
        assert isinstance(frame, ImuSample)
        while pending and pending[0].end_ns <= frame.t_ns:  # all IMU before its end is in
            register(pending.popleft())
        t0 = time.perf_counter()
        lio.add_imu_measurement(frame.accel_mps2, frame.gyro_radps, frame.t_ns, T_lidar_imu)
        wall += time.perf_counter() - t0
    while pending:
        register(pending.popleft())

    t_ns, poses = lio.poses_with_timestamps()
    q = np.asarray(poses, dtype=np.float64).reshape(-1, 7)  # x y z qx qy qz qw
    T = np.tile(np.eye(4), (len(q), 1, 1))
    T[:, :3, :3] = Rotation.from_quat(q[:, 3:]).as_matrix()
    T[:, :3, 3] = q[:, :3]
    return MethodRun(
        f"rko_lio {version('rko-lio')}",
        np.asarray(t_ns, dtype=np.float64) * 1e-9,
        T,
        n_points,
        wall,
        proc_status_mb("VmHWM"),
        start,
        "default config" + (f", {dropped} sweeps dropped" if dropped else ""),
    )


@dataclass(frozen=True)
class KissSlamRun:
    t_s: np.ndarray  # [N] pose times: the sweep's end, where its kiss-icp odometry deskews to
    T_world_lidar: np.ndarray  # [N, 4, 4] after the final, fine-grained optimisation
    n_points: int  # points fed
    wall_s: float  # process_scan and the final optimisation, reading the sweeps excluded
    n_local_maps: int
    n_closures: int
    version: str


def run_kiss_slam(sweeps: Iterable[LidarSweep], config=None) -> KissSlamRun:
    """kiss-slam (its default config unless one is given: a kiss_slam.config.KissSLAMConfig)
    on a stream of sweeps, deskewing with per-point times when they have them; the poses of
    every sweep after the final, loop-closed optimisation (what its SlamPipeline writes)."""
    import contextlib
    import sys
    from importlib.metadata import version

    from kiss_slam.config import load_config
    from kiss_slam.slam import KissSLAM

    slam = KissSLAM(config if config is not None else load_config(None))
    t_s: list[float] = []
    wall = 0.0
    n_points = 0
    with contextlib.redirect_stdout(sys.stderr):  # it prints each closure and optimisation
        for s in sweeps:
            stamps = s.point_dt_s.astype(np.float64) if s.point_dt_s is not None else np.zeros(0)
            frame = np.ascontiguousarray(s.xyz_m, dtype=np.float64)
            n_points += len(s)
            t0 = time.perf_counter()
            slam.process_scan(frame, stamps)
            wall += time.perf_counter() - t0
            t_s.append(s.t_s + (float(s.point_dt_s.max()) if s.point_dt_s is not None else 0.0))
        t0 = time.perf_counter()
        slam.generate_new_node()  # the last local map closed and queried for a closure
        slam.local_map_graph.erase_last_local_map()  # the empty one that opened
        _, pgo = slam.fine_grained_optimization()
        estimates = pgo.estimates()  # {sweep: pose}, the first sweep fixed at the origin
        wall += time.perf_counter() - t0
    T = np.array([estimates[k] for k in sorted(estimates)], dtype=np.float64).reshape(-1, 4, 4)
    if len(T) != len(t_s):
        raise RuntimeError(f"kiss-slam gave {len(T)} poses for {len(t_s)} sweeps")
    return KissSlamRun(
        np.array(t_s),
        T,
        n_points,
        wall,
        len(list(slam.local_map_graph.local_maps())),
        len(slam.closures),
        version("kiss-slam"),
    )


def _run_kiss_slam(session: Path) -> MethodRun:
    start = proc_status_mb("VmRSS")
    k = run_kiss_slam(_sweeps(session))
    return MethodRun(
        f"kiss-slam {k.version}",
        k.t_s,
        k.T_world_lidar,
        k.n_points,
        k.wall_s,
        proc_status_mb("VmHWM"),
        start,
        f"lidar only, default config, deskew; {k.n_local_maps} local maps, {k.n_closures} closures",
    )


def run_method(method: str, session: Path, config: OdometryConfig) -> MethodRun:
    """One method on one session, in this process (run_site calls it in a fresh one)."""
    if method == "scanner-lio":
        return _run_ours(session, config)
    if method == "scanner-slam":
        return _run_ours_slam(session, config)
    if method == "kiss-icp":
        return _run_kiss(session)
    if method == "rko-lio":
        os.dup2(2, 1)  # its C++ core prints to stdout (and its profile at exit): to stderr
        return _run_rko(session)
    if method == "kiss-slam":
        return _run_kiss_slam(session)
    raise ValueError(f"unknown method {method!r}; one of {', '.join(METHODS)}")


def run_method_isolated(method: str, session: Path, config: OdometryConfig) -> MethodRun:
    """run_method in a fresh spawned process: its memory is its own."""
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(run_method, method, session, config).result()


def _row(sequence: str, run: MethodRun, t_gt: np.ndarray, T_gt: np.ndarray, span_s: float):
    ate = ate_rmse(run.t_s, run.T_world_lidar, t_gt, T_gt)
    drift = end_drift(run.t_s, run.T_world_lidar, t_gt, T_gt, align_s=ALIGN_S)
    relative = relative_error(run.t_s, run.T_world_lidar, t_gt, T_gt, RELATIVE_M)
    return SiteRow(
        sequence,
        run.method,
        ate.rmse_m,
        ate.max_m,
        drift.end_pct,
        drift.end_m,
        drift.z_end_m,
        drift.z_max_m,
        drift.path_m,
        run.n_points / run.wall_s if run.wall_s > 0 else float("nan"),
        span_s / run.wall_s if run.wall_s > 0 else float("nan"),
        run.peak_rss_mb,
        run.start_rss_mb,
        run.note,
        run.revisit_thickness_m,
        relative.vertical_m,
    )


def _failed(sequence: str, method: str, why: str) -> SiteRow:
    nan = float("nan")
    return SiteRow(sequence, method, *([nan] * 11), note=f"failed: {why}")


def run_site(
    config: OdometryConfig,
    out: Path,
    cache: Path,
    note: Callable[[str], None] = log.info,
    *,
    sequences: Sequence[SiteSequence] = SEQUENCES,
    realism: str = "datasheet",
    methods: Sequence[str] = METHODS,
) -> list[SiteRow]:
    """Every method on every sequence (generated under `realism` and cached in `cache`) ->
    the rows; the table goes to `out` (markdown) and each trajectory beside it, as
    <out stem>.<scene>-<seconds>s-<realism>.<method>.tum."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows: list[SiteRow] = []
    for seq in sequences:
        session = site_session(cache, seq, realism, note)
        label = f"{seq.scene}-{seq.duration_s:g}s-{realism}"
        t_gt, T_gt = read_tum(session / "ground_truth.tum")
        span_s = float(t_gt[-1] - t_gt[0])
        for method in methods:
            note(f"site {label}: {method} ...")
            try:
                run = run_method_isolated(method, session, config)
            except Exception as exc:  # one method's crash (BrokenProcessPool too) is its row
                log.exception("site %s: %s failed", label, method)
                rows.append(_failed(label, method, f"{type(exc).__name__}: {exc}"))
                continue
            write_tum(out.with_suffix(f".{label}.{method}.tum"), run.t_s, run.T_world_lidar)
            rows.append(_row(label, run, t_gt, T_gt, span_s))
            r = rows[-1]
            note(
                f"  {r.method}: ATE {r.ate_m:.3f} m, drift {r.drift_pct:.2f} %, "
                f"{r.points_per_s / 1e6:.2f}M points/s, peak {r.peak_rss_mb:.0f} MB"
            )
    out.write_text(format_site_table(rows, realism))
    return rows


def format_site_table(rows: Sequence[SiteRow], realism: str = "datasheet") -> str:
    lines = [
        f"Realism profile `{realism}`. Drift: aligned on the first {ALIGN_S:g} s, the final "
        "position error as % of the distance walked; Z: final z error / largest |z error|. "
        "Peak RSS of each method's own process (in brackets: when its processing started). "
        "Revisited: the median plane thickness of the surfaces seen on two visits of a place "
        "(submaps within 5 m by the truth, 30 m of walk apart; ours with submaps only). "
        f"Z per {RELATIVE_M:g} m: the RMS height error over stretches of {RELATIVE_M:g} m "
        "walked (slam.metrics.relative_error).",
        "",
        "| sequence | method | ATE RMSE [m] | ATE max [m] | drift [%] | end error [m] "
        f"| Z end [m] | Z max [m] | Z per {RELATIVE_M:g} m [mm] | revisited [cm] | points/s "
        "| x real time | peak RSS [MB] | note |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        seq = f"{r.sequence} ({r.path_m:.0f} m)" if np.isfinite(r.path_m) else r.sequence
        thick = f"{100 * r.revisit_thickness_m:.2f}" if np.isfinite(r.revisit_thickness_m) else "-"
        z_rel = f"{1000 * r.z_relative_m:.0f}" if np.isfinite(r.z_relative_m) else "-"
        lines.append(
            f"| {seq} | {r.method} | {r.ate_m:.3f} | {r.ate_max_m:.3f} | {r.drift_pct:.2f} | "
            f"{r.drift_m:.3f} | {r.z_end_m:+.3f} | {r.z_max_m:.3f} | {z_rel} | {thick} | "
            f"{r.points_per_s / 1e6:.2f}M | {r.realtime_factor:.1f} | "
            f"{r.peak_rss_mb:.0f} ({r.start_rss_mb:.0f}) | {r.note} |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import argparse

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--scene", action="append", help="scene (repeat); default campus, courtyard"
    )
    parser.add_argument("--duration", type=float, help="seconds per sequence (default: each's)")
    parser.add_argument("--realism", default="datasheet")
    parser.add_argument("--method", action="append", choices=METHODS)
    parser.add_argument("--out", type=Path, default=Path("out/bench_site.md"))
    parser.add_argument("--cache", type=Path, default=Path("out/cache/twin"))
    a = parser.parse_args()
    chosen = [s for s in SEQUENCES if not a.scene or s.scene in a.scene]
    chosen += [SiteSequence(n, 60.0) for n in a.scene or () if n not in {s.scene for s in chosen}]
    if a.duration:
        chosen = [SiteSequence(s.scene, a.duration, s.motion, s.seed) for s in chosen]
    site_rows = run_site(
        OdometryConfig(),
        a.out,
        a.cache,
        sequences=chosen,
        realism=a.realism,
        methods=a.method or METHODS,
    )
    print(format_site_table(site_rows, a.realism))
