"""Live SLAM in a process of its own, so the API, the drivers and the recorder never wait on it.

The daemon sends `Begin` (the scan, the IMU the filter fuses and where it sits, the last
second of that IMU, so the filter can initialise at once, and the session's submap folder),
then tagged frames, then `End`. The worker answers with one `Step` per registered sweep: the
pose, the points that are new to the live map, the engine's counters and the loops closed so
far; and `Ended` when the scan's SLAM is over. Meanwhile it writes the scan's submaps and pose
graph (slam/mapping.py) into the session, and at `End` optimises the graph and writes
graph.json, from which the products are made without a second SLAM pass. The process starts
with the daemon and compiles its kernels then, not at the first press.
"""

from __future__ import annotations

import logging
import multiprocessing as mp
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.workers import Exited, Quit, Ready, Worker
from drivers.source import Sensor, Tagged
from slam.config import MappingConfig, OdometryConfig
from slam.submaps import SubmapContent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Begin:
    scan_id: str
    T_lidar_imu: np.ndarray | None  # [4, 4] the fused IMU in the lidar frame; None: lidar-only
    imu: Sensor  # which IMU's samples the filter fuses
    backlog: list[Tagged]  # that IMU's last samples, so the filter can initialise at once
    submap_dir: Path | None = None  # where the scan's submaps go; None: no global mapping


@dataclass(frozen=True)
class End:
    """The scan is over: flush what the engine holds."""


@dataclass(frozen=True)
class Step:
    scan_id: str
    t_ns: int  # host monotonic, the sweep's middle (the time of every pose)
    T_world_lidar: np.ndarray  # [4, 4]
    new_points: np.ndarray  # [M, 3] float32, world frame, voxels new to the live map
    sweeps_in: int
    points_in: int
    wall_s: float  # time inside the engine and the mapping so far
    sensor_s: float  # sensor time covered so far (sweeps x the sweep period)
    degenerate: bool
    imu_ok: bool
    inertial: bool
    loops: int = 0  # loops closed so far
    last_loop_correction_m: float | None = None  # how far the last one moved the map


@dataclass(frozen=True)
class Ended:
    scan_id: str
    error: str | None  # why live SLAM stopped early, if it did


def _warm_up(config: OdometryConfig) -> None:
    """Run the engine once on a synthetic room so that every kernel is compiled or loaded."""
    from drivers.frames import ImuSample, LidarSweep
    from slam.engine import SlamEngine

    rng = np.random.default_rng(0)
    n = 4000
    d = rng.normal(size=(n, 3))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t = np.min(np.abs(np.array([4.0, 5.0, 3.0]) / np.where(d == 0, 1e-9, d)), axis=1)
    xyz = (d * t[:, None]).astype(np.float32)
    engine = SlamEngine(config, np.eye(4))
    for k in range(12):
        t0 = k * 100_000_000
        for j in range(20):
            imu = ImuSample(t0 + j * 5_000_000, np.zeros(3), np.array([0, 0, 9.80665]))
            engine.push(Tagged(Sensor.imu, imu))
        dt = np.linspace(0, 0.099, n).astype(np.float32)
        engine.push(Tagged(Sensor.lidar, LidarSweep(t0, xyz, np.ones(n, np.float32), dt, k)))
    engine.flush()


@dataclass(frozen=True)
class MappingSettings:
    """What the live worker needs of the global mapping."""

    config: MappingConfig
    content: SubmapContent  # what the submaps keep for the products


class _LiveScan:
    """One scan's engine, mapper and live-map filter; turns the engine's steps into `Step`s."""

    def __init__(
        self, begin: Begin, config: OdometryConfig, live_voxel_m: float, mapping: MappingSettings
    ):
        from device.live import NewVoxelFilter
        from slam.engine import SlamEngine
        from slam.pipeline import mapping_engine

        self.scan_id = begin.scan_id
        self.period_s = config.scan_period_s
        self.mapper = None
        if begin.submap_dir is None:
            self.engine = SlamEngine(config, begin.T_lidar_imu, imu=begin.imu)
        else:
            self.engine, self.mapper = mapping_engine(
                config,
                mapping.config,
                begin.submap_dir,
                mapping.content,
                begin.T_lidar_imu,
                begin.imu,
            )
        self.live = NewVoxelFilter(live_voxel_m)

    def finish(self) -> None:
        """The scan is over: the mapper's last submap, the batch optimisation, graph.json."""
        if self.mapper is not None:
            from slam.engine import engine_figures

            self.mapper.finish(engine_figures(self.engine))

    def steps(self, tagged: Tagged | None) -> list[Step]:
        """Push a frame (None: flush at the end of the scan)."""
        e = self.engine
        done = e.flush() if tagged is None else e.push(tagged)
        st = e.stats
        loops = self.mapper.loops if self.mapper is not None else []
        return [
            Step(
                self.scan_id,
                s.t_ns,
                s.T_world_lidar,
                self.live.new_points(s.points_world),
                st.sweeps_in,
                st.points_in,
                st.wall_s + (self.mapper.wall_s if self.mapper is not None else 0.0),
                st.sweeps_in * self.period_s,
                e.degenerate,
                e.imu_ok,
                e.inertial,
                len(loops),
                loops[-1].correction_m if loops else None,
            )  # fmt: skip
            for s in done
        ]


def _main(
    inbox: mp.Queue,
    outbox: mp.Queue,
    config_json: str,
    live_voxel_m: float,
    mapping: MappingSettings,
) -> None:
    config = OdometryConfig.model_validate_json(config_json)
    try:
        _warm_up(config)
    except Exception:  # a failed warm-up only costs speed at the first scan
        log.exception("warm-up failed")
    outbox.put(Ready())
    scan: _LiveScan | None = None
    while True:
        msg = inbox.get()
        if isinstance(msg, Quit):
            return
        if isinstance(msg, Begin):
            try:
                scan = _LiveScan(msg, config, live_voxel_m, mapping)
            except Exception as exc:  # the submap folder cannot be made: the recording goes on
                log.exception("live SLAM cannot start")
                outbox.put(Ended(msg.scan_id, f"{type(exc).__name__}: {exc}"))
                scan = None
                continue
            frames: list[Tagged | None] = list(msg.backlog)
        elif isinstance(msg, Tagged):
            frames = [msg]
        elif isinstance(msg, End):
            frames = [None]
        else:
            continue
        if scan is None:  # no scan, or its SLAM failed: nothing to do until the next Begin
            continue
        try:
            for frame in frames:
                for step in scan.steps(frame):
                    outbox.put(step)
            if isinstance(msg, End):
                scan.finish()
                outbox.put(Ended(scan.scan_id, None))
                scan = None
        except Exception as exc:  # live SLAM is lost; the recording goes on regardless
            log.exception("live SLAM failed")
            outbox.put(Ended(scan.scan_id, f"{type(exc).__name__}: {exc}"))
            scan = None


class SlamWorker:
    """The live SLAM process; `on_result` gets its `Step`s and `Ended`s."""

    def __init__(
        self,
        config: OdometryConfig,
        on_result: Callable[[Step | Ended], None],
        live_voxel_m: float = 0.2,
        max_queued_frames: int = 2000,
        mapping: MappingSettings | None = None,
    ) -> None:
        self._on_result = on_result
        if mapping is None:
            from products.map import ProductsConfig

            mapping = MappingSettings(MappingConfig(), ProductsConfig().submap_content())
        self.worker = Worker(
            "slam",
            _main,
            (config.model_dump_json(), live_voxel_m, mapping),
            nice=5,  # the drivers, the recorder and the API come first; SLAM has headroom (RTF > 4)
            max_queued=max_queued_frames,
            on_message=self._deliver,
        )
        self.scan_id: str | None = None

    def start(self) -> SlamWorker:
        self.worker.start()
        return self

    def wait_ready(self, timeout_s: float) -> bool:
        return self.worker.ready.wait(timeout_s)

    @property
    def alive(self) -> bool:
        return self.worker.alive

    @property
    def dropped(self) -> int:
        """Frames not sent because the worker was behind."""
        return self.worker.dropped

    def begin(
        self,
        scan_id: str,
        T_lidar_imu: np.ndarray | None,
        imu: Sensor,
        backlog: list,
        submap_dir: Path | None = None,
    ):
        self.scan_id = scan_id
        self.worker.send(Begin(scan_id, T_lidar_imu, imu, backlog, submap_dir), timeout_s=5.0)

    def feed(self, tagged: Tagged) -> bool:
        return self.worker.send(tagged)

    def end(self) -> None:
        self.worker.send(End(), timeout_s=5.0)
        self.scan_id = None

    def stop(self, timeout_s: float = 3.0) -> None:
        self.worker.stop(timeout_s)

    def _deliver(self, msg: object) -> None:
        if isinstance(msg, Exited):  # it died: the scan's live SLAM is over
            self._on_result(Ended(self.scan_id or "", "the SLAM worker exited"))
        elif isinstance(msg, Step | Ended):
            self._on_result(msg)
