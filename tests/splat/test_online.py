"""The online splat: keyframes placed on the live poses, Gaussians from the live map's new
points within a budget, training that raises held-out PSNR, exports at any time."""

import numpy as np
import pytest

from drivers.sessions.manifest import read_manifest
from drivers.sessions.replay import SessionSource
from drivers.sessions.trajectory import read_tum
from drivers.source import Sensor
from products.export import read_ply
from slam.preprocess import voxel_downsample
from splat.export import SPLAT_BYTES
from splat.online import OnlineConfig, OnlineSplat

SMALL = dict(image_scale=0.25, keyframe_interval_s=0.4, iters_per_keyframe=40, holdout_every=4)


@pytest.fixture(scope="module")
def live(processed):
    """The session as the daemon would see it: poses, then images, in time order."""
    t_s, T = read_tum(processed / "products" / "trajectory.tum")
    cloud = read_ply(processed / "products" / "map.ply")
    points = cloud.xyz_m[voxel_downsample(cloud.xyz_m, 0.25)]
    frames = [t.frame for t in SessionSource(processed, sensors=(Sensor.camera,)).frames()]
    events = [(round(t * 1e9), "pose", Ti) for t, Ti in zip(t_s, T, strict=True)]
    events += [(f.t_ns, "image", f) for f in frames]
    events.sort(key=lambda e: e[0])
    return read_manifest(processed).calibration.camera, points, events


def test_training_on_the_live_stream_raises_held_out_psnr(live, tmp_path):
    cal, points, events = live
    splat = OnlineSplat(cal, OnlineConfig(**SMALL))
    splat.add_points(points)
    for t_ns, kind, x in events:
        if kind == "pose":
            splat.add_pose(t_ns, x)
        else:
            splat.add_image(x)
    assert splat.n_keyframes >= 8 and len(splat.test_views) >= 2
    before = splat.evaluate()["psnr_db"]
    assert splat.train() == splat.n_keyframes * 40  # all that is owed
    after = splat.evaluate()
    assert after["held_out"] and after["psnr_db"] > before + 3.0  # measured 20.5 -> 27 dB
    assert splat.export(tmp_path)
    n = splat.stats()["gaussians"]
    assert (tmp_path / "scene.splat").stat().st_size == SPLAT_BYTES * n == SPLAT_BYTES * len(points)


def test_images_wait_for_a_pose_after_them_and_the_budget_holds(live):
    cal, points, events = live
    splat = OnlineSplat(cal, OnlineConfig(**SMALL, max_gaussians=1000))
    images = [x for _, kind, x in events if kind == "image"]
    poses = [(t, x) for t, kind, x in events if kind == "pose"]
    for f in images[:10]:
        splat.add_image(f)
    assert splat.n_keyframes == 0  # no pose yet: nothing can be placed
    splat.add_points(points)
    for t, T in poses:
        splat.add_pose(t, T)
    assert splat.n_keyframes > 0
    assert splat.stats()["gaussians"] == 1000
    assert splat.points_dropped == len(points) - 1000
    splat.add_points(np.zeros((5, 3)))
    assert splat.stats()["gaussians"] == 1000  # full: later points are dropped, and counted


def test_a_fisheye_camera_is_refused_plainly(live):
    cal = live[0].model_copy(update={"model": "fisheye"})
    with pytest.raises(ValueError, match="pinhole"):
        OnlineSplat(cal)
