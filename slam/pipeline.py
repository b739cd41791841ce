"""Run the odometry over a source of sweeps and collect the trajectory and the map."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from drivers.frames import ImuSample, LidarSweep
from slam.config import OdometryConfig
from slam.odometry import LidarOdometry, TooFewPointsError
from slam.preprocess import voxel_downsample

log = logging.getLogger(__name__)


@dataclass
class MapAccumulator:
    """The global map as registered points, downsampled as it grows so memory stays bounded."""

    voxel_m: float
    _chunks: list[np.ndarray] = field(default_factory=list)
    _pending: int = 0

    def add(self, points_world: np.ndarray) -> None:  # [N, 3]
        self._chunks.append(points_world.astype(np.float32))
        self._pending += len(points_world)
        if self._pending > 2_000_000:
            self._compact()

    def _compact(self) -> None:
        pts = np.concatenate(self._chunks) if self._chunks else np.zeros((0, 3), np.float32)
        self._chunks = [pts[voxel_downsample(pts, self.voxel_m)]]
        self._pending = 0

    def points(self) -> np.ndarray:  # [M, 3] float32
        self._compact()
        return self._chunks[0]


@dataclass
class SlamRun:
    """What a run produced: one pose per registered sweep, the map, and how it went."""

    t_s: np.ndarray  # [N]
    T_world_lidar: np.ndarray  # [N, 4, 4]
    map_points: np.ndarray | None  # [M, 3] float32
    n_points_in: int
    wall_s: float  # time spent in the odometry itself
    n_skipped: int
    n_recovered: int
    latencies_s: np.ndarray = field(default_factory=lambda: np.zeros(0))  # [N] per sweep
    n_degenerate: int = 0  # sweeps whose geometry left a direction to the IMU

    @property
    def points_per_s(self) -> float:
        return self.n_points_in / self.wall_s if self.wall_s > 0 else 0.0


def run_odometry(
    sweeps: Iterable[LidarSweep],
    config: OdometryConfig,
    map_voxel_m: float | None = 0.1,
    on_step: Callable[[int], None] | None = None,
) -> SlamRun:
    """Register every sweep; a sweep that cannot be registered is logged and skipped."""
    odom = LidarOdometry(config)
    acc = MapAccumulator(map_voxel_m) if map_voxel_m else None
    t_s, poses = [], []
    n_in = n_skipped = 0
    wall = 0.0
    latencies = []
    for sweep in sweeps:
        t0 = time.perf_counter()
        try:
            step = odom.register_frame(sweep)
        except TooFewPointsError as exc:
            log.warning("skipping %s", exc)
            n_skipped += 1
            continue
        finally:
            wall += time.perf_counter() - t0
        latencies.append(time.perf_counter() - t0)
        n_in += len(sweep)
        t_s.append(step.t_ns * 1e-9)
        poses.append(step.T_world_lidar)
        if acc is not None:
            acc.add(step.points_world)
        if on_step:
            on_step(len(poses))
    return SlamRun(
        t_s=np.array(t_s),
        T_world_lidar=np.array(poses).reshape(-1, 4, 4),
        map_points=acc.points() if acc is not None else None,
        n_points_in=n_in,
        wall_s=wall,
        n_skipped=n_skipped,
        n_recovered=odom.n_recovered,
        latencies_s=np.array(latencies),
    )


def run_lio(
    frames: Iterable[LidarSweep | ImuSample | object],
    config: OdometryConfig,
    T_lidar_imu: np.ndarray,  # [4, 4]
    map_voxel_m: float | None = 0.1,
    on_step: Callable[[int], None] | None = None,
) -> SlamRun:
    """The LiDAR-inertial filter over frames in time order (other frame types are ignored).

    A sweep is held until the IMU has passed its end, so that it can be deskewed."""
    from collections import deque

    from slam.lio import LidarInertialOdometry

    lio = LidarInertialOdometry(config, T_lidar_imu)
    acc = MapAccumulator(map_voxel_m) if map_voxel_m else None
    pending: deque[LidarSweep] = deque()
    t_s, poses = [], []
    counts = {"in": 0, "skipped": 0, "degenerate": 0}
    wall = 0.0
    latencies = []

    def run(sweep: LidarSweep) -> None:
        nonlocal wall
        t0 = time.perf_counter()
        try:
            step = lio.process(sweep)
        except TooFewPointsError as exc:
            log.warning("skipping %s", exc)
            counts["skipped"] += 1
            return
        finally:
            wall += time.perf_counter() - t0
        latencies.append(time.perf_counter() - t0)
        counts["in"] += len(sweep)
        counts["degenerate"] += int(lio.degenerate)
        if step is None:  # still initialising
            return
        t_s.append(step.t_ns * 1e-9)
        poses.append(step.T_world_lidar)
        if acc is not None:
            acc.add(step.points_world)
        if on_step:
            on_step(len(poses))

    def sweep_end_ns(s: LidarSweep) -> int:
        return s.t_ns + (round(float(s.point_dt_s.max()) * 1e9) if s.point_dt_s is not None else 0)

    for frame in frames:
        if isinstance(frame, ImuSample):
            t0 = time.perf_counter()
            lio.add_imu(frame)
            wall += time.perf_counter() - t0
            while pending and sweep_end_ns(pending[0]) <= frame.t_ns:
                run(pending.popleft())
        elif isinstance(frame, LidarSweep):
            pending.append(frame)
            while len(pending) > 3:  # the IMU is late or gone: go on without it
                run(pending.popleft())
    while pending:
        run(pending.popleft())
    return SlamRun(
        t_s=np.array(t_s),
        T_world_lidar=np.array(poses).reshape(-1, 4, 4),
        map_points=acc.points() if acc is not None else None,
        n_points_in=counts["in"],
        wall_s=wall,
        n_skipped=counts["skipped"],
        n_recovered=0,
        latencies_s=np.array(latencies),
        n_degenerate=counts["degenerate"],
    )
