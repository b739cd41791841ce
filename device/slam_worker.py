"""Live SLAM in a process of its own, so the API, the drivers and the recorder never wait on it.

The daemon sends `begin` (with the IMU extrinsic and the last second of IMU, so the filter can
initialise at once), then frames, then `end`. The worker answers with one `Step` per registered
sweep: the pose, the points that are new to the live map, and the engine's counters. The
process starts with the daemon and compiles its kernels then, not at the first press.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from slam.config import OdometryConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    scan_id: str
    t_ns: int  # host monotonic, the sweep's end
    T_world_lidar: np.ndarray  # [4, 4]
    new_points: np.ndarray  # [M, 3] float32, world frame, voxels new to the live map
    sweeps_in: int
    points_in: int
    wall_s: float  # time inside the engine so far
    sensor_s: float  # sensor time covered so far (sweeps x the sweep period)
    degenerate: bool
    imu_ok: bool
    inertial: bool


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
            engine.push(ImuSample(t0 + j * 5_000_000, np.zeros(3), np.array([0, 0, 9.80665])))
        dt = np.linspace(0, 0.099, n).astype(np.float32)
        engine.push(LidarSweep(t0, xyz, np.ones(n, np.float32), dt, k))
    engine.flush()


class _LiveScan:
    """One scan's engine and live-map filter; turns the engine's steps into `Step`s."""

    def __init__(self, scan_id: str, config: OdometryConfig, T_lidar_imu, live_voxel_m: float):
        from device.live import NewVoxelFilter
        from slam.engine import SlamEngine

        self.scan_id = scan_id
        self.period_s = config.scan_period_s
        self.engine = SlamEngine(config, T_lidar_imu)
        self.live = NewVoxelFilter(live_voxel_m)

    def steps(self, frame: object | None) -> list[Step]:
        """Push a frame (None: flush at the end of the scan)."""
        e = self.engine
        done = e.flush() if frame is None else e.push(frame)
        st = e.stats
        return [
            Step(
                self.scan_id,
                s.t_ns,
                s.T_world_lidar,
                self.live.new_points(s.points_world),
                st.sweeps_in,
                st.points_in,
                st.wall_s,
                st.sweeps_in * self.period_s,
                e.degenerate,
                e.imu_ok,
                e.inertial,
            )  # fmt: skip
            for s in done
        ]


def _main(inbox: mp.Queue, outbox: mp.Queue, config_json: str, live_voxel_m: float) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the daemon, which stops us
    os.nice(5)  # the drivers, the recorder and the API come first; SLAM has headroom (RTF > 4)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s slam-worker: %(message)s")
    config = OdometryConfig.model_validate_json(config_json)
    try:
        _warm_up(config)
    except Exception:  # a failed warm-up only costs speed at the first scan
        log.exception("warm-up failed")
    outbox.put("ready")
    scan: _LiveScan | None = None
    while True:
        msg = inbox.get()
        kind = msg[0]
        if kind == "quit":
            return
        if kind == "begin":
            _, scan_id, T_lidar_imu, backlog = msg
            scan = _LiveScan(scan_id, config, T_lidar_imu, live_voxel_m)
            frames = backlog
        elif kind == "frame":
            frames = [msg[1]]
        elif kind == "end":
            frames = [None]
        else:
            continue
        if scan is None:  # no scan, or its SLAM failed: nothing to do until the next begin
            continue
        try:
            for frame in frames:
                for step in scan.steps(frame):
                    outbox.put(step)
            if kind == "end":
                outbox.put(Ended(scan.scan_id, None))
                scan = None
        except Exception as exc:  # live SLAM is lost; the recording goes on regardless
            log.exception("live SLAM failed")
            outbox.put(Ended(scan.scan_id, f"{type(exc).__name__}: {exc}"))
            scan = None


def stop_process(proc: mp.Process, inbox: mp.Queue, timeout_s: float) -> None:
    """Ask a worker process to quit, kill it if it will not, and let go of its inbox without
    waiting for messages nobody will read."""
    with contextlib.suppress(queue.Full):
        inbox.put(("quit",), timeout=1.0)
    proc.join(timeout_s)
    if proc.is_alive():
        proc.kill()
        proc.join(1.0)
    inbox.cancel_join_thread()
    inbox.close()


class SlamWorker:
    """The live SLAM process and the thread that hands its results to `on_result`."""

    def __init__(
        self,
        config: OdometryConfig,
        on_result: Callable[[Step | Ended], None],
        live_voxel_m: float = 0.2,
        max_queued_frames: int = 2000,
    ) -> None:
        ctx = mp.get_context("spawn")
        self._inbox: mp.Queue = ctx.Queue(maxsize=max_queued_frames)
        self._outbox: mp.Queue = ctx.Queue()
        self._proc = ctx.Process(
            target=_main,
            args=(self._inbox, self._outbox, config.model_dump_json(), live_voxel_m),
            name="scanner-slam",
            daemon=True,
        )
        self._on_result = on_result
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read, name="slam-results", daemon=True)
        self.dropped = 0  # frames not sent because the worker was behind
        self.scan_id: str | None = None

    def start(self) -> SlamWorker:
        self._proc.start()
        self._reader.start()
        return self

    def wait_ready(self, timeout_s: float) -> bool:
        return self._ready.wait(timeout_s)

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def begin(self, scan_id: str, T_lidar_imu: np.ndarray | None, backlog: list) -> None:
        self.scan_id = scan_id
        self._inbox.put(("begin", scan_id, T_lidar_imu, backlog))

    def feed(self, frame: object) -> bool:
        try:
            self._inbox.put_nowait(("frame", frame))
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def end(self) -> None:
        self._inbox.put(("end",))
        self.scan_id = None

    def stop(self, timeout_s: float = 3.0) -> None:
        stop_process(self._proc, self._inbox, timeout_s)
        self._outbox.put(None)  # ends the reader
        self._reader.join(timeout_s)

    def _read(self) -> None:
        while True:
            try:
                msg = self._outbox.get(timeout=1.0)
            except queue.Empty:
                if self._proc.exitcode is not None:  # it died: say so once, and stop reading
                    log.error("the SLAM worker exited (status %s)", self._proc.exitcode)
                    self._on_result(Ended(self.scan_id or "", "the SLAM worker exited"))
                    return
                continue
            except (EOFError, OSError):
                return
            if msg is None:
                return
            if msg == "ready":
                self._ready.set()
                continue
            try:
                self._on_result(msg)
            except Exception:
                log.exception("handling a SLAM result failed")
