import numpy as np

from drivers.frames import LidarSweep
from products.map import MapBuilder, inliers
from slam.odometry import OdometryStep


def _step(points, index):
    return OdometryStep(0, np.eye(4), points, 1.0, np.zeros((6, 6)), False, points, index)


def test_the_builder_thins_to_the_voxel_and_keeps_intensity_and_time():
    rng = np.random.default_rng(0)
    b = MapBuilder(0.1)
    for k in range(3):
        xyz = rng.uniform(0, 1, (5000, 3)).astype(np.float32)
        sweep = LidarSweep(
            k * 100_000_000, xyz, np.full(5000, 10.0 * k, np.float32),
            np.linspace(0, 0.1, 5000).astype(np.float32), k,
        )  # fmt: skip
        b.add(_step(xyz.astype(np.float64), np.arange(5000)), sweep)
    cloud = b.finish(outlier_neighbors=0)
    keys = np.floor(cloud.xyz_m / 0.1).astype(int)
    assert len(np.unique(keys, axis=0)) == len(cloud) <= 1000  # one point per 10 cm voxel
    assert cloud.intensity.min() >= 0.0 and cloud.intensity.max() <= 20.0
    assert cloud.t_s.min() >= 0.0 and cloud.t_s.max() <= 0.3
    assert (np.diff(cloud.t_s) >= 0).all()  # in the order they were seen


def test_a_voxel_holds_the_mean_of_its_points_and_their_first_time():
    b = MapBuilder(0.1)
    xyz = np.array([[0.01, 0.01, 0.01], [0.03, 0.05, 0.07], [0.55, 0.55, 0.55]])
    sweep = LidarSweep(
        10**9, xyz.astype(np.float32), np.array([0.0, 20.0, 5.0], np.float32),
        np.array([0.0, 0.05, 0.09], np.float32), 0,
    )  # fmt: skip
    b.add(_step(xyz, np.arange(3)), sweep)
    cloud = b.finish(outlier_neighbors=0)
    assert len(cloud) == 2
    np.testing.assert_allclose(cloud.xyz_m[0], [0.02, 0.03, 0.04], atol=1e-7)
    assert cloud.intensity[0] == 10.0 and cloud.t_s[0] == 1.0


def test_statistical_outliers_are_removed():
    rng = np.random.default_rng(1)
    plane = np.column_stack([rng.uniform(0, 5, (20000, 2)), np.zeros(20000)])
    stray = rng.uniform(-20, 20, (20, 3)) + np.array([0, 0, 10.0])
    ok = inliers(np.vstack([plane, stray]), 8, 2.5)
    assert not ok[-20:].any() and ok[:-20].mean() > 0.99
