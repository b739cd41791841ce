"""Replay: a session's recording as the same typed frames the live drivers yield.

`SessionSource` is a Source like the drivers: its frames() are the recording's LidarSweep,
ImuSample and CameraFrame, tagged with their sensor, in time order, as fast as possible or paced
at the recorded rate.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from drivers.sessions import rosmsg
from drivers.sessions.manifest import (
    MANIFEST,
    MID360_T_LIDAR_IMU,
    RECORDING,
    Calibration,
    read_manifest,
)
from drivers.sessions.recording import read_frames
from drivers.sessions.recovery import needs_recovery, recover_session
from drivers.source import Counter, Sensor, SensorHealth, Tagged


def recording_path(path: Path) -> Path:
    """A session folder or a bare .mcap -> the .mcap file (FileNotFoundError if none)."""
    path = Path(path)
    mcap = path / RECORDING if path.is_dir() else path
    if not mcap.is_file():
        raise FileNotFoundError(f"{path}: no {RECORDING} recording here")
    return mcap


def session_calibration(path: Path) -> Calibration:
    """The session's calibration, or the Mid-360's factory one for a bare .mcap (a recording
    from any other recorder)."""
    path = Path(path)
    if path.is_dir() and (path / MANIFEST).exists():
        return read_manifest(path).calibration
    return Calibration(T_lidar_imu=MID360_T_LIDAR_IMU)


class SessionSource:
    """A session (or bare .mcap) as a Source: its frames, tagged, in time order.

    `sensors` picks which to read (default: all four); `rate` paces them at that multiple of
    the recorded rate (0 = as fast as possible). A session that was never closed is recovered
    first. Health counts what was handed out.
    """

    def __init__(
        self, path: Path, rate: float = 0.0, sensors: tuple[Sensor, ...] | None = None
    ) -> None:
        if Path(path).is_dir() and needs_recovery(Path(path)):
            recover_session(Path(path))  # a session that was never closed
        self.path = recording_path(path)
        self.rate = rate
        self.sensors = sensors or tuple(Sensor)
        self._counter = Counter(self.sensors)

    def frames(self) -> Iterator[Tagged]:
        self._counter = Counter(self.sensors)  # health counts this pass
        t_first_ns: int | None = None
        wall_start = time.monotonic()
        index = 0
        topics = tuple(rosmsg.TOPICS[s] for s in self.sensors)
        for topic, frame in read_frames(self.path, topics):
            if topic == rosmsg.LIDAR_TOPIC:
                frame = replace(frame, index=index)
                index += 1
            if self.rate > 0:
                t_first_ns = frame.t_ns if t_first_ns is None else t_first_ns
                due = wall_start + (frame.t_ns - t_first_ns) * 1e-9 / self.rate
                delay = due - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            yield self._counter.count(Tagged(rosmsg.SENSORS[topic], frame))

    def health(self) -> dict[Sensor, SensorHealth]:
        return self._counter.health()

    def close(self) -> None:
        pass  # each frames() opens and closes the file itself
