"""session.json: what a session is, written atomically (temp file, fsync, rename)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from drivers.clock import utc_pair
from drivers.sessions import rosmsg
from drivers.source import Sensor

MANIFEST = "session.json"
RECORDING = "raw.mcap"
GROUND_TRUTH = "ground_truth.tum"
SCENE_MESH = "scene.ply"
PRODUCTS = "products"
GEOREF = "georef"  # in products/: the products in a CRS (scanner georef)
SUBMAPS = "submaps"  # the SLAM's submaps and pose graph (slam/mapping.py)


# The Mid-360's built-in IMU (an ICM-40609-D) in the lidar's point-cloud frame: the IMU's pose in
# the lidar frame, T_lidar_imu, so that p_lidar = T_lidar_imu @ p_imu. The Livox Mid-360 User
# Manual puts the IMU at (11.0, 23.29, -44.12) mm in the point-cloud coordinate system, axes
# parallel. (FAST-LIO's mid360.yaml lists extrinsic_T = [-0.011, -0.02329, 0.04412]: that is the
# *lidar's* position in the *IMU* frame, the inverse of this, not the same thing.)
MID360_T_LIDAR_IMU = [
    [1.0, 0.0, 0.0, 0.011],
    [0.0, 1.0, 0.0, 0.02329],
    [0.0, 0.0, 1.0, -0.04412],
    [0.0, 0.0, 0.0, 1.0],
]


class SessionState(StrEnum):
    recording = "recording"
    recorded = "recorded"  # closed, not processed yet
    processing = "processing"
    done = "done"
    failed = "failed"
    recovered = "recovered"


class SensorInfo(BaseModel):
    name: str  # lidar, imu, camera, external_imu
    model: str
    topic: str
    rate_hz: float
    frame_id: str
    connected: bool = True
    messages: int = 0
    drops: int = 0

    @classmethod
    def of(cls, sensor: Sensor, model: str, rate_hz: float, messages: int = 0) -> SensorInfo:
        """The row for one sensor: its name, topic and frame id follow from it."""
        return cls(
            name=sensor.value,
            model=model,
            topic=rosmsg.TOPICS[sensor],
            rate_hz=rate_hz,
            frame_id=rosmsg.FRAME_IDS[sensor],
            messages=messages,
        )


class CameraCalibration(BaseModel):
    width: int
    height: int
    model: str  # pinhole | fisheye
    fx: float
    fy: float
    cx: float
    cy: float
    distortion: list[float] = Field(default_factory=list)
    T_lidar_camera: list[list[float]]  # [4][4], x right, y down, z forward


class Calibration(BaseModel):
    T_lidar_imu: list[list[float]]  # [4][4] the IMU's pose in the lidar frame
    T_lidar_external_imu: list[list[float]] | None = None  # the serial IMU's, if there is one
    camera: CameraCalibration | None = None

    def T_lidar(self, imu: Sensor) -> np.ndarray | None:
        """[4, 4] the pose of this IMU (Sensor.imu or Sensor.external_imu) in the lidar frame;
        None when the session has no calibration for it."""
        T = self.T_lidar_external_imu if imu == Sensor.external_imu else self.T_lidar_imu
        return None if T is None else np.array(T)


class ClockPair(BaseModel):
    """The recording's clock against UTC, read together when the recording started."""

    host_ns: int  # the clock frames are stamped with (the host's monotonic clock on the device)
    utc_ns: int  # UTC, Unix nanoseconds, at the same instant

    @classmethod
    def now(cls) -> ClockPair:
        host_ns, utc_ns = utc_pair()
        return cls(host_ns=host_ns, utc_ns=utc_ns)

    @property
    def utc_offset_s(self) -> float:
        """UTC (Unix seconds) minus the recording's clock."""
        return (self.utc_ns - self.host_ns) * 1e-9


class SessionManifest(BaseModel):
    model_config = ConfigDict(extra="allow")

    id: str
    state: SessionState
    created_utc: str = Field(
        default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds")
    )
    source: str  # "device" or "digital-twin"
    start_ns: int
    end_ns: int
    sensors: list[SensorInfo] = Field(default_factory=list)
    calibration: Calibration
    # the recording's clock against UTC; None in sessions from before it was recorded, whose
    # UTC comes from created_utc (to the second)
    clock: ClockPair | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) * 1e-9

    @property
    def utc_offset_s(self) -> float:
        """UTC (Unix seconds) minus the recording's clock: from the clock pair read when the
        recording started, else (older sessions) from created_utc, which is to the second."""
        if self.clock is not None:
            return self.clock.utc_offset_s
        return datetime.fromisoformat(self.created_utc).timestamp() - self.start_ns * 1e-9


def write_manifest(session_dir: Path, manifest: SessionManifest) -> Path:
    """Replace session.json so that a reader sees the old or the new file, never half of one."""
    path = Path(session_dir) / MANIFEST
    fd, tmp = tempfile.mkstemp(dir=session_dir, prefix=".session.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(manifest.model_dump_json(indent=2) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        dir_fd = os.open(session_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def read_manifest(session_dir: Path) -> SessionManifest:
    return SessionManifest.model_validate_json((Path(session_dir) / MANIFEST).read_text())
