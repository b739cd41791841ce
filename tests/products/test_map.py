import numpy as np

from drivers.frames import LidarSweep
from products.map import MapBuilder, ProductsConfig, inliers, map_from_submaps
from slam.odometry import OdometryStep
from slam.submaps import SubmapBuilder
from tests.slam.scenes import pose


def _submap(index, T_world_anchor, local, t0_s=0.0):
    """A submap of one sweep of `local` points [N, 3], seen from its anchor."""
    n = len(local)
    world = local @ T_world_anchor[:3, :3].T + T_world_anchor[:3, 3]
    b = SubmapBuilder(index, T_world_anchor, voxel_m=0.1, coarse_voxel_m=0.5, keep_rays=True)
    sweep = LidarSweep(int(t0_s * 1e9), local.astype(np.float32), np.full(n, 7.0, np.float32),
                       np.zeros(n, np.float32), index)  # fmt: skip
    b.add(OdometryStep(sweep.t_ns, T_world_anchor, world, 1.0, np.zeros((6, 6)), False, world,
                       np.arange(n)), sweep)  # fmt: skip
    return b.finish()


def test_submaps_are_placed_at_the_anchors_given_and_merge_where_they_overlap():
    rng = np.random.default_rng(0)
    local = rng.uniform(0, 1, (4000, 3))
    a, b = _submap(0, np.eye(4), local), _submap(1, pose(0.5, 0), local, 1.0)
    builder = MapBuilder(0.1)
    builder.add_submap(a, np.eye(4))
    builder.add_submap(b, pose(0.5, 0) @ pose(0, 0, 2.0))  # the graph moved it 2 m up
    cloud = builder.finish(outlier_neighbors=0)
    keys = np.floor(cloud.xyz_m / 0.1).astype(int)
    assert len(np.unique(keys, axis=0)) == len(cloud)  # one point per voxel, overlaps merged
    assert cloud.xyz_m[:, 2].max() > 2.9 and cloud.xyz_m[:, 0].max() > 1.4
    assert (np.diff(cloud.t_s) >= 0).all() and cloud.t_s[0] == 0.0  # in the order seen
    assert (cloud.intensity == 7.0).all()


def test_the_map_of_a_folder_checks_it_has_an_anchor_per_submap(tmp_path):
    local = np.random.default_rng(1).uniform(0, 2, (3000, 3))
    for k in range(3):
        _submap(k, pose(k, 0), local).save(tmp_path)
    cfg = ProductsConfig(map_voxel_m=0.1, outlier_neighbors=0)
    anchors = np.array([pose(k, 0) for k in range(3)])
    seen = []
    cloud = map_from_submaps(tmp_path, anchors, cfg, seen.append)
    assert seen == [1 / 3, 2 / 3, 1.0] and len(cloud) > 1000
    try:
        map_from_submaps(tmp_path, anchors[:2], cfg)
    except ValueError as exc:
        assert "3 submaps for 2 anchors" in str(exc)
    else:
        raise AssertionError("a missing anchor must not pass")


def test_moving_things_are_removed_with_the_submaps_rays():
    rng = np.random.default_rng(2)
    wall = np.column_stack([np.full(6000, 8.0), rng.uniform(-2, 2, (6000, 2))])
    person = np.column_stack([np.full(300, 4.0), rng.uniform(-0.2, 0.2, (300, 2))])
    early = _submap(0, np.eye(4), np.vstack([wall, person]))
    late = _submap(1, np.eye(4), wall, 5.0)  # the person has gone: rays pass where they stood
    builder = MapBuilder(0.1, remove_moving=True)
    for s in (early, late, late, late):
        builder.add_submap(s, np.eye(4))
    cloud = builder.finish(outlier_neighbors=0)
    assert (cloud.xyz_m[:, 0] > 7.5).mean() > 0.99


def test_statistical_outliers_are_removed():
    rng = np.random.default_rng(1)
    plane = np.column_stack([rng.uniform(0, 5, (20000, 2)), np.zeros(20000)])
    stray = rng.uniform(-20, 20, (20, 3)) + np.array([0, 0, 10.0])
    ok = inliers(np.vstack([plane, stray]), 8, 2.5)
    assert not ok[-20:].any() and ok[:-20].mean() > 0.99
