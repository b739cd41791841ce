"""Replay: a session's recording as the same typed frames the live drivers yield.

`SessionSource` is a Source like the drivers: iterate it and get LidarSweep, ImuSample and
CameraFrame in time order, as fast as possible or paced at the recorded rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from device.sessions import rosmsg
from device.sessions.manifest import MANIFEST, RECORDING, Calibration, read_manifest
from device.sessions.recording import read_frames
from device.sessions.recovery import needs_recovery, recover_session
from drivers.frames import CameraFrame, ImuSample, LidarSweep

Frame = LidarSweep | ImuSample | CameraFrame


def recording_path(path: Path) -> Path:
    """A session folder or a bare .mcap -> the .mcap file (FileNotFoundError if none)."""
    path = Path(path)
    mcap = path / RECORDING if path.is_dir() else path
    if not mcap.is_file():
        raise FileNotFoundError(f"{path}: no {RECORDING} recording here")
    return mcap


# the Mid-360's built-in IMU in the lidar frame (Livox's factory value): for bare recordings
MID360_T_LIDAR_IMU = [
    [1.0, 0.0, 0.0, -0.011],
    [0.0, 1.0, 0.0, -0.02329],
    [0.0, 0.0, 1.0, 0.04412],
    [0.0, 0.0, 0.0, 1.0],
]


def session_calibration(path: Path) -> Calibration:
    """The session's calibration, or the Mid-360's factory one for a bare .mcap."""
    path = Path(path)
    if path.is_dir() and (path / MANIFEST).exists():
        return read_manifest(path).calibration
    return Calibration(T_lidar_imu=MID360_T_LIDAR_IMU)


class SessionSource:
    """Frames of a session (or bare .mcap) in time order; rate 0 = as fast as possible."""

    def __init__(
        self, path: Path, rate: float = 0.0, topics: tuple[str, ...] | None = None
    ) -> None:
        if Path(path).is_dir() and needs_recovery(Path(path)):
            recover_session(Path(path))  # a session that was never closed
        self.path = recording_path(path)
        self.rate = rate
        self.topics = topics or (rosmsg.LIDAR_TOPIC, rosmsg.IMU_TOPIC, rosmsg.IMAGE_TOPIC)

    def __iter__(self) -> Iterator[Frame]:
        t_first_ns: int | None = None
        wall_start = time.monotonic()
        index = 0
        for topic, frame in read_frames(self.path, self.topics):
            if topic == rosmsg.LIDAR_TOPIC:
                frame = replace(frame, index=index)
                index += 1
            if self.rate > 0:
                t_first_ns = frame.t_ns if t_first_ns is None else t_first_ns
                due = wall_start + (frame.t_ns - t_first_ns) * 1e-9 / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield frame
