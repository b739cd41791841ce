"""The online splat in a process of its own: it trains while the scan runs and never holds up
SLAM, the recorder or the API.

The daemon sends `Begin` (the scan's products folder and camera calibration), then `Pose`s and
`Points` from live SLAM and camera images (tagged frames), then `End`. Everything goes through a
bounded queue without waiting: when the worker is behind, messages are dropped and counted. The
worker trains what it owes between messages and writes splat.ply and scene.splat into the
products folder every `online_export_every_s`, so the splat can be downloaded while the scan
runs; at `End` it writes them once more, with splat_live.json (its figures).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import queue
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.workers import Quit, Worker
from drivers.frames import CameraFrame
from drivers.sessions.manifest import CameraCalibration
from drivers.source import Sensor, Tagged
from splat.config import SplatConfig

log = logging.getLogger(__name__)

TRAIN_BETWEEN_MESSAGES = 10  # iterations at a time: the queue stays drained while it trains


@dataclass(frozen=True)
class Begin:
    products_dir: Path
    calibration_json: str  # CameraCalibration


@dataclass(frozen=True)
class Pose:
    t_ns: int
    T_world_lidar: np.ndarray  # [4, 4]


@dataclass(frozen=True)
class Points:
    xyz_world: np.ndarray  # [M, 3] new to the live map


@dataclass(frozen=True)
class End:
    """The scan is over: write the splat once more, with its figures."""


def feed(splat, msg: Pose | Points | Tagged) -> None:
    """One live message into the OnlineSplat (the worker and its benchmark replay share it)."""
    if isinstance(msg, Pose):
        splat.add_pose(msg.t_ns, msg.T_world_lidar)
    elif isinstance(msg, Points):
        splat.add_points(msg.xyz_world)
    elif isinstance(msg, Tagged) and msg.sensor == Sensor.camera:
        splat.add_image(msg.frame)


def _main(inbox: mp.Queue, outbox: mp.Queue, config_json: str) -> None:
    from splat.online import OnlineConfig, OnlineSplat

    sc = SplatConfig.model_validate_json(config_json)
    device = sc.torch_device()
    splat: OnlineSplat | None = None
    out: Path | None = None
    last_export = time.monotonic()

    def finish() -> None:
        if splat is not None and out is not None:
            splat.export(out)
            figures = {**splat.stats(), **splat.evaluate(), "device": device}
            (out / "splat_live.json").write_text(json.dumps(figures, indent=2))

    while True:
        owed = splat is not None and splat.owed_iterations > 0
        try:  # wait for a message only when no training is owed
            msg = inbox.get_nowait() if owed else inbox.get(timeout=0.5)
        except queue.Empty:
            msg = None
        try:
            if isinstance(msg, Quit):
                finish()
                return
            if isinstance(msg, Begin):
                out = Path(msg.products_dir)
                cfg = OnlineConfig(
                    iters_per_keyframe=sc.online_iters_per_keyframe,
                    image_scale=sc.online_image_scale,
                    max_gaussians=sc.online_max_gaussians,
                )
                cal = CameraCalibration.model_validate_json(msg.calibration_json)
                splat = OnlineSplat(cal, cfg, device)
                last_export = time.monotonic()
            elif splat is None:
                pass  # between scans
            elif isinstance(msg, End):
                finish()
                splat, out = None, None
            elif msg is not None:
                feed(splat, msg)
            if splat is not None:
                splat.train(max_iterations=TRAIN_BETWEEN_MESSAGES)
                if out is not None and time.monotonic() - last_export > sc.online_export_every_s:
                    splat.export(out)
                    last_export = time.monotonic()
        except Exception:  # the online splat is lost for this scan; the scan goes on
            log.exception("online splat failed")
            splat, out = None, None


class SplatWorker:
    def __init__(self, config: SplatConfig, max_queued: int = 500) -> None:
        self.worker = Worker(
            "splat", _main, (config.model_dump_json(),), nice=5, max_queued=max_queued
        )
        self.active = False
        self._last_image_ns = 0

    def start(self) -> SplatWorker:
        self.worker.start()
        return self

    @property
    def alive(self) -> bool:
        return self.worker.alive

    @property
    def dropped(self) -> int:
        """Messages not sent because the worker was behind."""
        return self.worker.dropped

    def begin(self, products_dir: Path, cal: CameraCalibration) -> None:
        self.active = self.worker.send(Begin(Path(products_dir), cal.model_dump_json()))

    def pose(self, t_ns: int, T_world_lidar: np.ndarray) -> None:
        if self.active:
            self.worker.send(Pose(int(t_ns), np.asarray(T_world_lidar)))

    def points(self, xyz_world: np.ndarray) -> None:
        if self.active and len(xyz_world):
            self.worker.send(Points(np.asarray(xyz_world)))

    def image(self, frame: CameraFrame) -> None:
        # two a second at most: a keyframe a second is all it takes, and JPEGs are not small
        due = self.active and frame.t_ns - self._last_image_ns >= 500_000_000
        if due and self.worker.send(Tagged(Sensor.camera, frame)):
            self._last_image_ns = frame.t_ns

    def end(self) -> None:
        if self.active:
            self.worker.send(End(), timeout_s=2.0)
        self.active = False

    def stop(self, timeout_s: float = 10.0) -> None:
        self.worker.stop(timeout_s)
