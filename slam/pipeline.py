"""Run the SLAM engine over a source's tagged frames and collect the trajectory and the map."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drivers.source import Sensor, Tagged
from slam.config import MappingConfig, OdometryConfig
from slam.engine import SlamEngine, engine_figures
from slam.preprocess import voxel_downsample
from slam.submaps import SubmapContent

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
    # the lidar-IMU extrinsic at the end: the calibration's, or refined online when it was
    T_lidar_imu: np.ndarray | None = None  # [4, 4]

    @property
    def points_per_s(self) -> float:
        return self.n_points_in / self.wall_s if self.wall_s > 0 else 0.0


def run_odometry(
    frames: Iterable[Tagged],
    config: OdometryConfig,
    map_voxel_m: float | None = 0.1,
    on_step: Callable[[int], None] | None = None,
) -> SlamRun:
    """Register every sweep lidar-only; a sweep that cannot be registered is logged and skipped."""
    return run_engine(SlamEngine(config), frames, map_voxel_m, on_step)


def run_lio(
    frames: Iterable[Tagged],
    config: OdometryConfig,
    T_lidar_imu: np.ndarray,  # [4, 4] the pose of `imu` in the lidar frame
    map_voxel_m: float | None = 0.1,
    on_step: Callable[[int], None] | None = None,
    imu: Sensor = Sensor.imu,
) -> SlamRun:
    """The LiDAR-inertial filter over frames in time order (other sensors are ignored)."""
    return run_engine(SlamEngine(config, T_lidar_imu, imu=imu), frames, map_voxel_m, on_step)


def run_engine(
    engine: SlamEngine,
    frames: Iterable[Tagged],
    map_voxel_m: float | None = 0.1,
    on_step: Callable[[int], None] | None = None,
) -> SlamRun:
    """Every frame through the engine; the poses and the map it made."""
    acc = MapAccumulator(map_voxel_m) if map_voxel_m else None
    t_s, poses = [], []

    def take(steps: list) -> None:
        for step in steps:
            t_s.append(step.t_ns * 1e-9)
            poses.append(step.T_world_lidar)
            if acc is not None:
                acc.add(step.points_world)
            if on_step:
                on_step(len(poses))

    for frame in frames:
        take(engine.push(frame))
    take(engine.flush())
    st = engine.stats
    return SlamRun(
        t_s=np.array(t_s),
        T_world_lidar=np.array(poses).reshape(-1, 4, 4),
        map_points=acc.points() if acc is not None else None,
        n_points_in=st.points_in,
        wall_s=st.wall_s,
        n_skipped=st.skipped,
        n_recovered=st.recovered,
        latencies_s=np.array(st.latencies_s),
        n_degenerate=st.degenerate,
        T_lidar_imu=engine.lio.T_lidar_imu if engine.lio is not None else None,
    )


def mapping_engine(
    config: OdometryConfig,
    mapping: MappingConfig,
    folder: Path,
    content: SubmapContent,
    T_lidar_imu: np.ndarray | None = None,  # [4, 4]; None: lidar-only
    imu: Sensor = Sensor.imu,
):
    """The odometry wired to the global mapping (slam/mapping.py): every step with its deskewed
    points goes into the Mapper's submaps -> (SlamEngine, Mapper). The mapping is levelled by
    gravity when LiDAR-inertial. The live worker and run_mapping both start here."""
    from slam.mapping import Mapper

    mapper = Mapper(mapping, folder, content, T_lidar_imu is not None)
    engine = SlamEngine(config, T_lidar_imu, full_scan=True, on_step=mapper.add, imu=imu)
    return engine, mapper


def run_mapping(
    frames: Iterable[Tagged],
    config: OdometryConfig,
    mapping: MappingConfig,
    folder: Path,
    content: SubmapContent,
    T_lidar_imu: np.ndarray | None = None,  # [4, 4]; None: lidar-only
    imu: Sensor = Sensor.imu,
    on_step: Callable[[int], None] | None = None,
):
    """The odometry with the global mapping over frames: submaps into `folder`, loops, the pose
    graph optimised at the end -> (SlamRun, MappingResult, the engine's figures in its meta)."""
    engine, mapper = mapping_engine(config, mapping, folder, content, T_lidar_imu, imu)
    run = run_engine(engine, frames, None, on_step)
    return run, mapper.finish(engine_figures(engine))


def placed_map(
    folder: Path, T_world_anchor: np.ndarray, voxel_m: float
) -> np.ndarray:  # [K, 4, 4] -> [M, 3] float32
    """The submaps in `folder` placed at their anchors, as one cloud downsampled to `voxel_m`."""
    from slam.se3 import transform
    from slam.submaps import load_member, submap_files

    acc = MapAccumulator(voxel_m)
    for k, f in enumerate(submap_files(folder)):
        acc.add(transform(T_world_anchor[k], load_member(f, "xyz_m")))
    return acc.points()
