"""The SLAM engine as one plain object, the same live in the daemon and offline in `scanner slam`.

Feed it a source's tagged frames in time order and it returns the steps it could register. It
takes the lidar's sweeps and the samples of the one IMU it fuses (`imu`, a Sensor: the Mid-360's
own or the serial one); every other frame is ignored. With an IMU extrinsic it runs the
LiDAR-inertial filter and holds each sweep until the IMU has passed the sweep's end, so it can
be deskewed; if the IMU stays silent for a few sweeps it goes on without it. Without an
extrinsic it is the lidar-only odometry. No threads, no I/O, no config parsing.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from drivers.frames import LidarSweep
from drivers.source import Sensor, Tagged
from slam.config import OdometryConfig
from slam.odometry import LidarOdometry, OdometryStep, TooFewPointsError

log = logging.getLogger(__name__)

MAX_PENDING_SWEEPS = 3  # sweeps held for the IMU; beyond this the IMU is late or gone


@dataclass
class EngineStats:
    sweeps_in: int = 0
    points_in: int = 0  # points of the sweeps processed (registered or initialising)
    poses: int = 0
    skipped: int = 0  # sweeps with too few usable points
    out_of_order: int = 0  # sweeps ending at or before the last one (a repeat): dropped
    degenerate: int = 0  # sweeps whose geometry left a direction of translation to the IMU
    recovered: int = 0  # lidar-only: lost motion priors found again by the heading search
    wall_s: float = 0.0  # time spent inside the filter or the odometry
    latencies_s: list[float] = field(default_factory=list)  # per processed sweep


class SlamEngine:
    """LiDAR-inertial when given T_lidar_imu (the pose of `imu` in the lidar frame), lidar-only
    otherwise."""

    def __init__(
        self,
        config: OdometryConfig,
        T_lidar_imu: np.ndarray | None = None,  # [4, 4]
        full_scan: bool = False,  # steps also carry every deskewed point (for the map products)
        on_step: Callable[[OdometryStep, LidarSweep], None] | None = None,  # with its sweep
        imu: Sensor = Sensor.imu,  # which IMU's samples it fuses
    ) -> None:
        self.config = config
        self.imu = imu
        self.on_step = on_step
        self.stats = EngineStats()
        self._pending: deque[LidarSweep] = deque()
        self._last_end_ns: int | None = None  # the end of the last sweep taken
        if T_lidar_imu is not None:
            from slam.lio import LidarInertialOdometry

            self.lio: LidarInertialOdometry | None = LidarInertialOdometry(
                config, T_lidar_imu, full_scan
            )
            self.odometry = None
        else:
            self.lio = None
            self.odometry = LidarOdometry(config, full_scan)

    @property
    def inertial(self) -> bool:
        return self.lio is not None

    @property
    def degenerate(self) -> bool:
        return bool(self.lio is not None and self.lio.degenerate)

    @property
    def imu_ok(self) -> bool:
        return bool(self.lio is not None and self.lio.imu_ok)

    def push(self, tagged: Tagged) -> list[OdometryStep]:
        """One frame in; the steps it completed out (often none, sometimes several)."""
        sensor, frame = tagged.sensor, tagged.frame
        if sensor == Sensor.lidar:
            if self._last_end_ns is not None and frame.end_ns <= self._last_end_ns:
                self.stats.out_of_order += 1  # the filter cannot propagate backwards
                log.warning("dropping sweep %d: it ends before the last one", frame.index)
                return []
            self._last_end_ns = frame.end_ns
            if self.lio is None:
                return self._run(frame)
            self._pending.append(frame)
            steps = []
            while len(self._pending) > MAX_PENDING_SWEEPS:
                steps += self._run(self._pending.popleft())
            return steps
        if sensor != self.imu or self.lio is None:
            return []
        t0 = time.perf_counter()
        self.lio.add_imu(frame)
        self.stats.wall_s += time.perf_counter() - t0
        steps = []
        while self._pending and self._pending[0].end_ns <= frame.t_ns:
            steps += self._run(self._pending.popleft())
        return steps

    def flush(self) -> list[OdometryStep]:
        """The sweeps still held for the IMU, at the end of a recording."""
        steps = []
        while self._pending:
            steps += self._run(self._pending.popleft())
        return steps

    def _run(self, sweep: LidarSweep) -> list[OdometryStep]:
        st = self.stats
        st.sweeps_in += 1
        t0 = time.perf_counter()
        try:
            if self.lio is not None:
                step = self.lio.process(sweep)
            else:
                step = self.odometry.register_frame(sweep)
        except TooFewPointsError as exc:
            log.warning("skipping %s", exc)
            st.skipped += 1
            return []
        finally:
            st.wall_s += time.perf_counter() - t0
        st.latencies_s.append(time.perf_counter() - t0)
        st.points_in += len(sweep)
        st.degenerate += int(self.degenerate)
        if step is None:  # the filter is still initialising
            return []
        st.poses += 1
        st.recovered += int(step.recovered)
        if self.on_step is not None:
            self.on_step(step, sweep)
        return [step]


def engine_figures(engine: SlamEngine) -> dict:
    """The engine's counters as saved with a scan's mapping (graph.json) and its stats."""
    st = engine.stats
    lat = np.array(st.latencies_s)
    T = engine.lio.T_lidar_imu if engine.lio is not None else None
    return {
        "mode": "LiDAR-inertial" if engine.inertial else "lidar-only",
        "sweeps_in": st.sweeps_in,
        "points_in": st.points_in,
        "poses": st.poses,
        "skipped": st.skipped,
        "out_of_order_sweeps": st.out_of_order,
        "degenerate_sweeps": st.degenerate,
        "recovered": st.recovered,
        "odometry_s": round(st.wall_s, 3),
        "points_per_s": round(st.points_in / st.wall_s) if st.wall_s > 0 else 0,
        "p99_latency_ms": round(float(np.percentile(lat, 99)) * 1e3, 2) if len(lat) else None,
        # the extrinsic the filter ended with (the calibration's unless refined online)
        "T_lidar_imu": np.round(T, 6).tolist() if T is not None else None,
    }
