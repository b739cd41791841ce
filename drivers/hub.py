"""The live sensors as one Source: every configured driver, started and stopped together.

Each driver runs its own threads; a pump per driver moves its tagged frames into one queue, so
the recorder and SLAM see a single stream (each sensor in time order) and a sensor that stalls
or disappears never blocks the others.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterator

from drivers.config import CameraConfig, ImuConfig, LidarConfig
from drivers.source import Sensor, SensorHealth, Source, Tagged

log = logging.getLogger(__name__)


class SensorHub:
    """Starts the enabled drivers and merges their frames: a Source of every live sensor."""

    def __init__(
        self,
        lidar: LidarConfig,
        imu: ImuConfig,
        camera: CameraConfig,
        camera_rate: float = 1.0,
        queue_size: int = 20_000,
    ) -> None:
        self.drivers: dict[str, Source] = {}
        if lidar.enabled:
            from drivers.livox.driver import Mid360Driver

            self.drivers["lidar"] = Mid360Driver(lidar)
        if imu.enabled:
            from drivers.xsens.driver import XsensDriver

            self.drivers["external_imu"] = XsensDriver(imu)
        if camera.enabled:
            from drivers.camera.driver import CameraDriver

            self.drivers["camera"] = CameraDriver(camera, rate=camera_rate, loop=camera.loop)
        self._queue: queue.Queue[Tagged] = queue.Queue(maxsize=queue_size)
        self._stop = threading.Event()
        self._pumps: list[threading.Thread] = []
        self.dropped = 0  # frames lost because nobody consumed them

    def start(self) -> SensorHub:
        for name, driver in self.drivers.items():
            driver.start()
            pump = threading.Thread(
                target=self._pump, args=(driver,), daemon=True, name=f"pump-{name}"
            )
            pump.start()
            self._pumps.append(pump)
        return self

    def _pump(self, driver: Source) -> None:
        for tagged in driver.frames():
            if self._stop.is_set():
                return
            try:
                self._queue.put_nowait(tagged)
            except queue.Full:
                self.dropped += 1
                if self.dropped == 1:
                    log.error("sensor frames are not being consumed: dropping them")

    def frames(self, timeout_s: float | None = None) -> Iterator[Tagged]:
        """Frames as they come, until close(); with timeout_s, the stream also ends after that
        long without a frame."""
        while not self._stop.is_set():
            try:
                yield self._queue.get(timeout=0.2 if timeout_s is None else timeout_s)
            except queue.Empty:
                if timeout_s is not None:
                    return

    def poll(self, timeout_s: float) -> Tagged | None:
        """The next frame, or None after timeout_s without one (callers check their state)."""
        try:
            return self._queue.get(timeout=timeout_s)
        except queue.Empty:
            return None

    def health(self) -> dict[Sensor, SensorHealth]:
        out: dict[Sensor, SensorHealth] = {}
        for driver in self.drivers.values():
            out.update(driver.health())
        return out

    def status(self) -> dict[str, object]:
        """Each driver's full status, for diagnostics."""
        return {name: driver.status() for name, driver in self.drivers.items()}

    def close(self) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        for driver in self.drivers.values():
            try:
                driver.stop()
            except Exception:  # a driver that fails to stop must not keep the others running
                log.exception("stopping a driver failed")
        for pump in self._pumps:
            pump.join(timeout=2.0)

    def __enter__(self) -> SensorHub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
