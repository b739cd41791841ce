"""`scanner emulate`: play a session as live sensors speaking their real protocols.

The Mid-360 answers on a loopback address over UDP (Livox SDK2), the IMU samples also come out
of a pseudo-terminal as an Xsens MTi (Xbus), and the camera images are laid out as a folder for
the camera driver's folder source. The daemon reads them through its real drivers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from drivers.sessions import rosmsg
from drivers.sessions.manifest import read_manifest
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


def looped(
    session: Path,
    sensors: tuple[Sensor, ...],
    loop: bool,
    lap_ns: int | None = None,
    on_lap: Callable[[int], None] | None = None,
) -> Iterator[Frame]:
    """The session's frames of these sensors, again and again with times shifted on, if loop:
    each lap `lap_ns` after the last (one period for every sensor, so that the streams keep
    their times together lap after lap); on_lap(k) as lap k begins."""
    if lap_ns is None:
        lap_ns = session_lap_ns(session)
    k = 0
    while True:
        if on_lap is not None:
            on_lap(k)
        shift_ns = k * lap_ns
        n = 0
        for tagged in SessionSource(session, sensors=sensors).frames():
            frame = tagged.frame
            n += 1
            yield replace(frame, t_ns=frame.t_ns + shift_ns) if shift_ns else frame
        if not loop or n == 0:
            return
        k += 1


def session_lap_ns(session: Path) -> int:
    """How long one lap of a looped session lasts: from its first frame to its last (the
    recording's statistics, or its manifest where it has none), and one sweep more."""
    from mcap.reader import make_reader

    try:
        with open(Path(session) / "raw.mcap", "rb") as f:
            stats = make_reader(f).get_summary().statistics
        span_ns = stats.message_end_time - stats.message_start_time
    except Exception:  # no summary (a recording cut off): the manifest's times
        m = read_manifest(session)
        span_ns = m.end_ns - m.start_ns
    return max(span_ns, 0) + 100_000_000


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
        lap_ns = session_lap_ns(self.session)
        self._laps = -1  # the lap the lidar plays
        self._lap_changed = threading.Condition()
        self.lidar = Mid360Emulator(
            settings.lidar_ip,
            settings.host_ip,
            source=looped(
                self.session, (Sensor.lidar, Sensor.imu), settings.loop, lap_ns, self._on_lap
            ),
            rate=settings.rate,
        )
        self.imu = None
        if settings.imu_link is not None:
            from drivers.sessions.recording import count_messages
            from drivers.xsens.emulator import XsensEmulator

            # the session's serial IMU if it has one, else the lidar's own stands in for it
            has_ext = count_messages(self.session / "raw.mcap", rosmsg.EXTERNAL_IMU_TOPIC) > 0
            sensor = Sensor.external_imu if has_ext else Sensor.imu
            imu_frames = looped(self.session, (sensor,), settings.loop, lap_ns)
            self.imu = XsensEmulator(imu_frames, settings.imu_link, rate=settings.rate)
        self.n_images = 0
        if settings.camera_dir is not None:
            self.n_images = write_camera_folder(self.session, settings.camera_dir)

    def _on_lap(self, k: int) -> None:
        with self._lap_changed:
            self._laps = k
            self._lap_changed.notify_all()

    def wait_for_lap(self, timeout_s: float = 30.0) -> bool:
        """Until the next lap of a looped session begins (the walk starts again from its
        first pose): a test's scan then fits in one lap, with no jump back to the start."""
        with self._lap_changed:
            now = self._laps
            return self._lap_changed.wait_for(lambda: self._laps > now, timeout_s)

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
