"""`scanner emulate`: play a session as live sensors speaking their real protocols.

The Mid-360 answers on a loopback address over UDP (Livox SDK2), the IMU samples also come out
of a pseudo-terminal as an Xsens MTi (Xbus), and the camera images are laid out as a folder for
the camera driver's folder source. The daemon reads them through its real drivers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from drivers.sessions import rosmsg
from drivers.sessions.replay import SessionSource
from drivers.source import Frame, Sensor

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmulateSettings:
    lidar_ip: str = "127.0.0.2"
    host_ip: str = "127.0.0.1"
    imu_link: Path | None = None  # a symlink to the Xsens pseudo-terminal, or no serial IMU
    camera_dir: Path | None = None  # the folder the images are written to, or no camera
    rate: float = 1.0
    loop: bool = False


def check_emulation(session: Path, settings: EmulateSettings) -> None:
    """Raise ValueError, saying why, unless the addresses are loopback ones and `session` is a
    session folder (with raw.mcap)."""
    import ipaddress

    for ip in (settings.lidar_ip, settings.host_ip):
        try:
            loopback = ipaddress.ip_address(ip).is_loopback
        except ValueError:
            raise ValueError(f"{ip}: not an IP address") from None
        if not loopback:
            raise ValueError(f"{ip}: the emulator serves loopback addresses only (127.0.0.0/8)")
    if not (Path(session) / "raw.mcap").exists():
        raise ValueError(f"{session}: not a session folder (no raw.mcap)")


def looped(session: Path, sensors: tuple[Sensor, ...], loop: bool) -> Iterator[Frame]:
    """The session's frames of these sensors, again and again with times shifted on, if loop."""
    shift_ns = 0
    while True:
        first_ns = last_ns = None
        for tagged in SessionSource(session, sensors=sensors).frames():
            frame = tagged.frame
            first_ns = frame.t_ns if first_ns is None else first_ns
            last_ns = frame.t_ns
            yield replace(frame, t_ns=frame.t_ns + shift_ns) if shift_ns else frame
        if not loop or last_ns is None:
            return
        shift_ns += last_ns - first_ns + 100_000_000  # the next lap starts a sweep later


def write_camera_folder(session: Path, folder: Path) -> int:
    """The session's JPEGs as NNNNNN.jpg (the camera driver's folder source) -> count."""
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for tagged in SessionSource(session, sensors=(Sensor.camera,)).frames():
        (folder / f"{n:06d}.jpg").write_bytes(tagged.frame.jpeg)
        n += 1
    return n


class SessionEmulator:
    """All the emulated sensors of one session, started and stopped together."""

    def __init__(self, session: Path, settings: EmulateSettings) -> None:
        from drivers.livox.emulator import Mid360Emulator

        self.session = Path(session)
        self.settings = settings
        self.lidar = Mid360Emulator(
            settings.lidar_ip,
            settings.host_ip,
            source=looped(self.session, (Sensor.lidar, Sensor.imu), settings.loop),
            rate=settings.rate,
        )
        self.imu = None
        if settings.imu_link is not None:
            from drivers.sessions.recording import count_messages
            from drivers.xsens.emulator import XsensEmulator

            # the session's serial IMU if it has one, else the lidar's own stands in for it
            has_ext = count_messages(self.session / "raw.mcap", rosmsg.EXTERNAL_IMU_TOPIC) > 0
            sensor = Sensor.external_imu if has_ext else Sensor.imu
            imu_frames = looped(self.session, (sensor,), settings.loop)
            self.imu = XsensEmulator(imu_frames, settings.imu_link, rate=settings.rate)
        self.n_images = 0
        if settings.camera_dir is not None:
            self.n_images = write_camera_folder(self.session, settings.camera_dir)

    def start(self) -> SessionEmulator:
        self.lidar.start()
        if self.imu is not None:
            self.imu.start()
        return self

    def stop(self) -> None:
        if self.imu is not None:
            self.imu.stop()
        self.lidar.stop()

    def wait(self, stop: threading.Event | None = None) -> None:
        """Until the lidar has played everything (never, with loop) or stop is set."""
        while not (stop and stop.is_set()):
            if self.lidar.wait_finished(timeout=0.5):
                return

    def __enter__(self) -> SessionEmulator:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
