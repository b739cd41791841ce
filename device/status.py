"""What the daemon reports: typed, frozen dataclasses (the API's schemas mirror them at the edge).

`StatusReport` is one look at the whole scanner (state, sensors, live SLAM, the recording,
storage, processing); `ScanReport` one scan. The daemon builds them; `api/schemas.py` validates
them into the wire format.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy.spatial.transform import Rotation

from drivers.sessions.manifest import SessionManifest
from drivers.source import SensorHealth

if TYPE_CHECKING:
    from device.live import LiveBuffer
    from device.processing import ProcessingJob
    from device.slam_worker import Step


@dataclass(frozen=True)
class PoseReport:
    t_s: float  # host monotonic clock, the sweep's middle
    position_m: list[float]
    quaternion_xyzw: list[float]

    @classmethod
    def of(cls, t_ns: int, T_world_lidar: np.ndarray) -> PoseReport:  # [4, 4]
        return cls(
            t_ns * 1e-9,
            [round(float(x), 4) for x in T_world_lidar[:3, 3]],
            [round(float(x), 6) for x in Rotation.from_matrix(T_world_lidar[:3, :3]).as_quat()],
        )


@dataclass(frozen=True)
class SlamReport:
    mode: str | None  # "LiDAR-inertial" | "lidar-only", None before the first pose
    pose: PoseReport | None
    distance_m: float
    map_points: int
    realtime_factor: float | None  # sensor time / compute time
    degenerate: bool
    imu_ok: bool | None
    lag_s: float | None  # now - the newest pose's time
    poses: int
    dropped_frames: int
    first_pose_s: float | None  # from the start of the scan
    error: str | None
    loops: int = 0  # loops closed in this scan
    last_loop_correction_m: float | None = None  # how far the last one moved the map

    @classmethod
    def of(
        cls,
        step: Step | None,
        live: LiveBuffer,
        dropped_frames: int,
        first_pose_s: float | None,
        error: str | None,
    ) -> SlamReport:
        """From the newest step of the SLAM worker and the live view's buffer."""
        pose = live.pose
        return cls(
            mode=None if step is None else "LiDAR-inertial" if step.inertial else "lidar-only",
            pose=None if pose is None else PoseReport.of(pose.t_ns, pose.T_world_lidar),
            distance_m=round(live.distance_m, 3),
            map_points=live.n_points,
            realtime_factor=round(step.sensor_s / step.wall_s, 2)
            if step is not None and step.wall_s
            else None,
            degenerate=step.degenerate if step is not None else False,
            imu_ok=step.imu_ok if step is not None else None,
            lag_s=None if pose is None else round((time.monotonic_ns() - pose.t_ns) * 1e-9, 3),
            poses=len(live.positions),
            dropped_frames=dropped_frames,
            first_pose_s=None if first_pose_s is None else round(first_pose_s, 3),
            error=error,
            loops=step.loops if step is not None else 0,
            last_loop_correction_m=None
            if step is None or step.last_loop_correction_m is None
            else round(step.last_loop_correction_m, 3),
        )


@dataclass(frozen=True)
class RecordingReport:
    duration_s: float
    bytes: int
    messages: int
    write_errors: int


@dataclass(frozen=True)
class StorageReport:
    total_bytes: int
    free_bytes: int
    minutes_left: float


@dataclass(frozen=True)
class ProcessingReport:
    scan_id: str
    stage: str
    progress: float


@dataclass(frozen=True)
class StatusReport:
    state: str
    since_s: float
    error: str | None
    scan_id: str | None
    sensors: dict[str, SensorHealth]
    slam: SlamReport | None
    recording: RecordingReport | None
    storage: StorageReport
    processing: ProcessingReport | None


@dataclass(frozen=True)
class ScanReport:
    id: str
    state: str
    created_utc: str
    duration_s: float
    progress: float | None
    stage: str | None
    splat_progress: float | None  # the splat, trained after the map (the scan is done)
    products: list[str]
    error: str | None
    stats: dict[str, Any]

    @classmethod
    def of(
        cls,
        scan_id: str,
        m: SessionManifest,
        duration_s: float,
        products: list[str],
        job: ProcessingJob | None,
    ) -> ScanReport:
        making = job is not None and not job.finished.is_set()
        return cls(
            id=scan_id,
            state=m.state.value,
            created_utc=m.created_utc,
            duration_s=round(duration_s, 2),
            progress=job.fraction if making else None,
            stage=job.stage if making else None,
            # the splat trains after the map is done, while the scanner can scan again
            splat_progress=job.splat_fraction if job is not None and job.training_splat else None,
            products=products,
            error=getattr(m, "error", None),
            stats=m.stats,
        )
