import numpy as np

from drivers.frames import LidarSweep
from slam.odometry import OdometryStep
from slam.submaps import SubmapBuilder, SubmapContent, load_member, load_submap, submap_files
from tests.slam.scenes import pose


def _step(T_world_lidar, points_world, t_ns=0):
    n = len(points_world)
    return OdometryStep(t_ns, T_world_lidar, points_world, 1.0, np.zeros((6, 6)), False,
                        points_world, np.arange(n))  # fmt: skip


def _sweep(xyz, intensity, dt, k):
    return LidarSweep(k * 100_000_000, xyz.astype(np.float32), intensity.astype(np.float32),
                      dt.astype(np.float32), k)  # fmt: skip


def test_a_submap_thins_to_the_voxel_and_keeps_intensity_and_time():
    rng = np.random.default_rng(0)
    b = SubmapBuilder(0, np.eye(4), SubmapContent(0.1, 0), coarse_voxel_m=0.5)
    for k in range(3):
        xyz = rng.uniform(0, 1, (5000, 3))
        sweep = _sweep(xyz, np.full(5000, 10.0 * k), np.linspace(0, 0.1, 5000), k)
        b.add(_step(np.eye(4), xyz, k * 100_000_000), sweep)
    s = b.finish()
    keys = np.floor(s.xyz_m / 0.1).astype(int)
    assert len(np.unique(keys, axis=0)) == len(s.xyz_m) <= 1000  # one point per 10 cm voxel
    assert s.weight.sum() == 15000  # every point is behind one mean
    assert s.intensity.min() >= 0.0 and s.intensity.max() <= 20.0
    assert s.t_s.min() >= 0.0 and s.t_s.max() <= 0.3
    assert len(s.coarse_m) <= 8  # the 0.5 m cloud for loop verification


def test_a_voxel_holds_the_mean_of_its_points_and_their_first_time():
    b = SubmapBuilder(0, np.eye(4), SubmapContent(0.1, 0), coarse_voxel_m=0.5)
    xyz = np.array([[0.01, 0.01, 0.01], [0.03, 0.05, 0.07], [0.55, 0.55, 0.55]])
    sweep = _sweep(xyz, np.array([0.0, 20.0, 5.0]), np.array([0.0, 0.05, 0.09]), 10)
    b.add(_step(np.eye(4), xyz, 10**9), sweep)
    s = b.finish()
    first = int(np.argmin(s.xyz_m[:, 0]))
    assert len(s.xyz_m) == 2
    np.testing.assert_allclose(s.xyz_m[first], [0.02, 0.03, 0.04], atol=1e-6)
    assert s.intensity[first] == 10.0 and s.t_s[first] == 1.0 and s.weight[first] == 2


def test_points_and_poses_are_kept_in_the_anchors_frame_and_saved_whole(tmp_path):
    T_anchor = pose(10, -5, 1, 0.7)
    b = SubmapBuilder(3, T_anchor, SubmapContent(0.05, 0, keep_rays=True), coarse_voxel_m=0.25)
    local = np.random.default_rng(1).uniform(-5, 5, (2000, 3))
    for k in range(2):
        T = T_anchor @ pose(0.5 * k, 0)
        world = local @ T[:3, :3].T + T[:3, 3]
        b.add(_step(T, world, k * 10**8), _sweep(local, np.ones(2000), np.zeros(2000), k))
    b.finish().save(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["00003.npz"]  # no temporary left
    s = load_submap(submap_files(tmp_path)[0])
    assert s.index == 3 and abs(s.path_m - 0.5) < 1e-9
    np.testing.assert_allclose(s.T_world_anchor, T_anchor)
    np.testing.assert_allclose(s.T_anchor_lidar[1], pose(0.5, 0), atol=1e-9)
    np.testing.assert_allclose(s.pose_t_s, [0.0, 0.1])
    assert np.abs(s.xyz_m).max() < 6.0  # the anchor's frame, not the world's
    assert len(s.ray_ends) == 2 * 250 and np.allclose(s.ray_origins[-1], [0.5, 0, 0])
    np.testing.assert_array_equal(load_member(submap_files(tmp_path)[0], "coarse_m"), s.coarse_m)
    mapped = load_submap(submap_files(tmp_path)[0], mmap=True)  # the same, read in place
    for name, value in vars(s).items():
        np.testing.assert_array_equal(getattr(mapped, name), value, err_msg=name)
    assert isinstance(mapped.xyz_m, np.memmap) and not mapped.xyz_m.flags.writeable
