"""session.json: what a session is, written atomically (temp file, fsync, rename)."""

from __future__ import annotations

import os
import tempfile
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

MANIFEST = "session.json"
RECORDING = "raw.mcap"
GROUND_TRUTH = "ground_truth.tum"
SCENE_MESH = "scene.ply"
PRODUCTS = "products"


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
    config: dict[str, Any] = Field(default_factory=dict)
    stats: dict[str, Any] = Field(default_factory=dict)

    @property
    def duration_s(self) -> float:
        return (self.end_ns - self.start_ns) * 1e-9


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
