"""The online splat's process: fed without ever blocking, it trains and writes the splat into
the scan's products while the scan runs, and once more at the end."""

import json
import time

import numpy as np

from device.splat_worker import SplatWorker
from drivers.frames import CameraFrame
from drivers.sessions.manifest import read_manifest
from drivers.sessions.replay import SessionSource
from drivers.sessions.trajectory import read_tum
from drivers.source import Sensor
from products.export import read_ply
from slam.preprocess import voxel_downsample
from splat.config import SplatConfig

CONFIG = SplatConfig(
    online=True,
    device="cpu",
    online_image_scale=0.25,
    online_iters_per_keyframe=10,
    online_export_every_s=1.0,
)


def test_the_worker_trains_and_writes_the_splat_into_the_products(processed, tmp_path):
    t_s, T = read_tum(processed / "products" / "trajectory.tum")
    cloud = read_ply(processed / "products" / "map.ply")
    frames = [t.frame for t in SessionSource(processed, sensors=(Sensor.camera,)).frames()]
    worker = SplatWorker(CONFIG).start()
    try:
        out = tmp_path / "products"
        worker.begin(out, read_manifest(processed).calibration.camera)
        worker.points(cloud.xyz_m[voxel_downsample(cloud.xyz_m, 0.3)])
        events = [(round(t * 1e9), T[i]) for i, t in enumerate(t_s)] + [(f.t_ns, f) for f in frames]
        for t_ns, x in sorted(events, key=lambda e: e[0]):
            if isinstance(x, CameraFrame):
                worker.image(x)
            else:
                worker.pose(t_ns, x)
        deadline = time.monotonic() + 60
        while not (out / "scene.splat").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert (out / "scene.splat").exists()  # while the scan is still running
        worker.end()
        deadline = time.monotonic() + 60
        while not (out / "splat_live.json").exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        live = json.loads((out / "splat_live.json").read_text())
        assert live["keyframes"] >= 3 and live["iterations"] > 0 and live["psnr_db"] > 10
        assert worker.dropped == 0
    finally:
        worker.stop()


def test_a_worker_that_falls_behind_drops_and_counts_never_blocks():
    worker = SplatWorker(CONFIG, max_queued=3)  # never started: nobody reads its queue
    worker.active = True
    t0 = time.monotonic()
    for i in range(50):
        worker.pose(i, np.eye(4))
    assert time.monotonic() - t0 < 1.0
    assert worker.dropped >= 45
