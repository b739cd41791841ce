"""The online splat in a process of its own: it trains while the scan runs and never holds up
SLAM, the recorder or the API.

The daemon sends `begin` (the scan's products folder and camera calibration), then poses and new
map points from live SLAM and camera images, then `end`. Everything goes through a bounded
queue with put_nowait: when the worker is behind, messages are dropped and counted, never
waited on. The worker trains what it owes between messages and writes splat.ply and
scene.splat into the products folder every `online_export_every_s`, so the splat can be
downloaded while the scan runs; at `end` it writes them once more, with live.json (its figures).
"""

from __future__ import annotations

import contextlib
import json
import logging
import multiprocessing as mp
import os
import queue
import time
from pathlib import Path

import numpy as np

from device.sessions.manifest import CameraCalibration
from device.slam_worker import stop_process
from drivers.frames import CameraFrame
from splat.config import SplatConfig

log = logging.getLogger(__name__)

TRAIN_BETWEEN_MESSAGES = 10  # iterations at a time: the queue stays drained while it trains


def feed(splat, msg: tuple) -> None:
    """One live message into the OnlineSplat: ("pose", t_ns, T_world_lidar [4, 4]),
    ("points", xyz_world [M, 3]) or ("image", CameraFrame)."""
    if msg[0] == "pose":
        splat.add_pose(msg[1], msg[2])
    elif msg[0] == "points":
        splat.add_points(msg[1])
    elif msg[0] == "image":
        splat.add_image(msg[1])


def _main(inbox: mp.Queue, config_json: str) -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the daemon
    os.nice(5)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s splat: %(message)s")
    import torch

    from splat.online import OnlineConfig, OnlineSplat

    sc = SplatConfig.model_validate_json(config_json)
    device = sc.device if sc.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
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
            if msg is None:
                pass
            elif msg[0] == "quit":
                finish()
                return
            elif msg[0] == "begin":
                _, out_dir, cal_json = msg
                out = Path(out_dir)
                cfg = OnlineConfig(
                    iters_per_keyframe=sc.online_iters_per_keyframe,
                    image_scale=sc.online_image_scale,
                    max_gaussians=sc.online_max_gaussians,
                )
                splat = OnlineSplat(CameraCalibration.model_validate_json(cal_json), cfg, device)
                last_export = time.monotonic()
            elif splat is None:
                pass  # between scans
            elif msg[0] == "end":
                finish()
                splat, out = None, None
            else:
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
        ctx = mp.get_context("spawn")
        self._inbox: mp.Queue = ctx.Queue(maxsize=max_queued)
        self._proc = ctx.Process(
            target=_main, args=(self._inbox, config.model_dump_json()), name="scanner-splat",
            daemon=True,
        )  # fmt: skip
        self.dropped = 0  # messages not sent because the worker was behind
        self.active = False
        self._last_image_ns = 0

    def start(self) -> SplatWorker:
        self._proc.start()
        return self

    @property
    def alive(self) -> bool:
        return self._proc.is_alive()

    def _send(self, msg: tuple) -> bool:
        try:
            self._inbox.put_nowait(msg)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def begin(self, products_dir: Path, cal: CameraCalibration) -> None:
        self.active = self._send(("begin", str(products_dir), cal.model_dump_json()))

    def pose(self, t_ns: int, T_world_lidar: np.ndarray) -> None:
        if self.active:
            self._send(("pose", int(t_ns), np.asarray(T_world_lidar)))

    def points(self, xyz_world: np.ndarray) -> None:
        if self.active and len(xyz_world):
            self._send(("points", np.asarray(xyz_world)))

    def image(self, frame: CameraFrame) -> None:
        # two a second at most: a keyframe a second is all it takes, and JPEGs are not small
        due = self.active and frame.t_ns - self._last_image_ns >= 500_000_000
        if due and self._send(("image", frame)):
            self._last_image_ns = frame.t_ns

    def end(self) -> None:
        if self.active:
            with contextlib.suppress(queue.Full):
                self._inbox.put(("end",), timeout=2.0)
        self.active = False

    def stop(self, timeout_s: float = 10.0) -> None:
        stop_process(self._proc, self._inbox, timeout_s)
