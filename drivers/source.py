"""One Source interface for every place frames come from, in the spirit of ouster-sdk's
PacketSource: the live drivers (Mid-360 over UDP, Xsens over serial, the camera), the hub that
merges them, session replay, folders of scans and the digital twin all yield the same tagged
frames, so the daemon, `scanner slam`, processing, the tests and the demo differ only in the
source they open.

    for tagged in source.frames():      # Tagged(sensor, frame), each sensor in time order
        ...
    source.health()                     # {Sensor: SensorHealth}
    source.close()

A tagged frame says which sensor it came from, so "which IMU feeds SLAM" is decided once, by
its `Sensor`, not by where the frame came from.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable

from drivers.frames import CameraFrame, ImuSample, LidarSweep

Frame = LidarSweep | ImuSample | CameraFrame


class Sensor(StrEnum):
    lidar = "lidar"  # the Mid-360's points (LidarSweep)
    imu = "imu"  # the Mid-360's built-in IMU (ImuSample)
    external_imu = "external_imu"  # the optional serial IMU, an Xsens MTi (ImuSample)
    camera = "camera"  # the USB camera (CameraFrame)


@dataclass(frozen=True, slots=True)
class Tagged:
    """A frame and the sensor it came from."""

    sensor: Sensor
    frame: Frame

    @property
    def t_ns(self) -> int:
        return self.frame.t_ns


@dataclass(frozen=True, slots=True)
class SensorHealth:
    """One shape for every sensor's health, live or replayed."""

    connected: bool
    rate_hz: float  # messages per second, recently
    drops: int  # messages lost (on the wire, or because nobody read them)
    errors: int  # bad packets, checksums, decode failures, outages
    messages: int  # frames delivered


@runtime_checkable
class Source(Protocol):
    """Where frames come from. Iterating `frames()` may block (a live sensor) or not (replay)."""

    def frames(self) -> Iterator[Tagged]: ...

    def health(self) -> dict[Sensor, SensorHealth]: ...

    def close(self) -> None: ...


class Counter:
    """Health of a source that counts what it hands out (replay, scan folders, the twin)."""

    def __init__(self, sensors: tuple[Sensor, ...]) -> None:
        self.messages = dict.fromkeys(sensors, 0)
        self.errors = dict.fromkeys(sensors, 0)

    def count(self, tagged: Tagged) -> Tagged:
        self.messages[tagged.sensor] = self.messages.get(tagged.sensor, 0) + 1
        return tagged

    def error(self, sensor: Sensor) -> None:
        self.errors[sensor] = self.errors.get(sensor, 0) + 1

    def health(self, connected: bool = True) -> dict[Sensor, SensorHealth]:
        return {
            s: SensorHealth(connected, 0.0, 0, self.errors.get(s, 0), n)
            for s, n in self.messages.items()
        }
