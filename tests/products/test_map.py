import numpy as np
import pytest

from drivers.frames import LidarSweep
from products.map import POINT, MapBuilder, ProductsConfig, by_tile, map_from_submaps, place_by_tile
from slam.odometry import OdometryStep
from slam.se3 import transform
from slam.submaps import (
    SubmapBuilder,
    SubmapContent,
    VoxelMeans,
    inliers,
    load_submap,
    submap_files,
    without_outliers,
)
from tests.slam.scenes import pose


def _submap(index, T_world_anchor, local, t0_s=0.0):
    """A submap of one sweep of `local` points [N, 3], seen from its anchor."""
    n = len(local)
    world = local @ T_world_anchor[:3, :3].T + T_world_anchor[:3, 3]
    content = SubmapContent(0.1, outlier_neighbors=0, keep_rays=True)
    b = SubmapBuilder(index, T_world_anchor, content, coarse_voxel_m=0.5)
    sweep = LidarSweep(int(t0_s * 1e9), local.astype(np.float32), np.full(n, 7.0, np.float32),
                       np.zeros(n, np.float32), index)  # fmt: skip
    b.add(OdometryStep(sweep.t_ns, T_world_anchor, world, 1.0, np.zeros((6, 6)), False, world,
                       np.arange(n)), sweep)  # fmt: skip
    return b.finish()


def test_submaps_are_placed_at_the_anchors_given_and_merge_where_they_overlap(tmp_path):
    rng = np.random.default_rng(0)
    local = rng.uniform(0, 1, (4000, 3))
    a, b = _submap(0, np.eye(4), local), _submap(1, pose(0.5, 0), local, 1.0)
    builder = MapBuilder(0.1, tmp_path / "work")
    builder.add_submap(a, np.eye(4))
    builder.add_submap(b, pose(0.5, 0) @ pose(0, 0, 2.0))  # the graph moved it 2 m up
    cloud = builder.finish()
    keys = np.floor(cloud.xyz_m / 0.1).astype(int)
    assert len(np.unique(keys, axis=0)) == len(cloud)  # one point per voxel, overlaps merged
    assert cloud.xyz_m[:, 2].max() > 2.9 and cloud.xyz_m[:, 0].max() > 1.4
    assert (np.diff(cloud.t_s) >= 0).all() and cloud.t_s[0] == 0.0  # in the order seen
    assert (cloud.intensity == 7.0).all()


def test_placing_by_tile_matches_transforming_and_sorting_in_numpy():
    rng = np.random.default_rng(3)
    local = rng.uniform(-30, 30, (20_000, 3)).astype(np.float32)
    w, i = rng.uniform(1, 5, (2, 20_000)).astype(np.float32)
    t = np.sort(rng.uniform(0, 9, 20_000))
    T = pose(-17.3, 4.1, 0.5, 2.2)  # tiles on both sides of zero
    voxel_m, per_tile = 0.1, 25
    got = place_by_tile(local, T, voxel_m, per_tile, w, i, t)
    xyz = transform(T, local.astype(np.float64))
    tiles = np.floor(xyz[:, :2] / voxel_m).astype(np.int64) // per_tile
    want = by_tile(tiles, POINT, xyz=xyz, w=w, i=i, t=t)
    assert [k for k, _ in got] == [k for k, _ in want] and len(got) > 4
    assert min(k[0] for k, _ in got) < 0 < max(k[0] for k, _ in got)
    for (_, a), (_, b) in zip(got, want, strict=True):  # the same points, in the same order
        np.testing.assert_allclose(a["xyz"], b["xyz"], atol=1e-9)
        for name in ("w", "i", "t"):
            np.testing.assert_array_equal(a[name], b[name])
    assert place_by_tile(local[:0], T, voxel_m, per_tile, w[:0], i[:0], t[:0]) == []


@pytest.mark.parametrize("compact_points", [10**9, 500])
def test_a_map_larger_than_a_tile_is_merged_tile_by_tile_from_disk(
    tmp_path, monkeypatch, compact_points
):
    """Tiles of 1 m over a 6 m field, the spill to disk after every submap, and revisited
    tiles merged in place as they grow (or not): the same voxels and means as one merge in
    memory, none straddling two tiles, each tile in time order."""
    import products.map

    monkeypatch.setattr(products.map, "COMPACT_POINTS", compact_points)
    rng = np.random.default_rng(3)
    local = rng.uniform(-3, 3, (30000, 3))
    anchors = [pose(0.3 * k, 0.1 * k) for k in range(4)]
    subs = [_submap(k, anchors[k], local, float(k)) for k in range(4)]
    builder = MapBuilder(0.1, tmp_path / "work", tile_m=1.0, spill_bytes=1)
    for s, T in zip(subs, anchors, strict=True):
        builder.add_submap(s, T)
    assert bool(builder._merged_size) == (compact_points == 500)
    cloud = builder.finish()
    assert isinstance(cloud.xyz_m, np.memmap)  # from disk, not held in memory

    whole = VoxelMeans(0.1)
    for s, T in zip(subs, anchors, strict=True):
        whole.add(transform(T, s.xyz_m.astype(np.float64)), s.intensity, s.t_s, s.weight)
    xyz, _, intensity, t = whole.result()
    assert len(cloud) == len(xyz)
    order, truth = np.lexsort(np.asarray(cloud.xyz_m).T), np.lexsort(xyz.T)
    np.testing.assert_allclose(np.asarray(cloud.xyz_m)[order], xyz[truth], atol=1e-9)
    np.testing.assert_array_equal(np.asarray(cloud.t_s)[order], t[truth])
    tiles = np.floor(np.asarray(cloud.xyz_m[:, :2]) / 1.0).astype(int)
    change = np.flatnonzero((np.diff(tiles, axis=0) != 0).any(axis=1)) + 1
    assert len(change) + 1 == len(np.unique(tiles, axis=0))  # each tile's points together
    for part in np.split(np.asarray(cloud.t_s), change):
        assert (np.diff(part) >= 0).all()


def test_the_map_of_a_folder_checks_it_has_an_anchor_per_submap(tmp_path):
    local = np.random.default_rng(1).uniform(0, 2, (3000, 3))
    for k in range(3):
        _submap(k, pose(k, 0), local).save(tmp_path)
    cfg = ProductsConfig(map_voxel_m=0.1, outlier_neighbors=0)
    anchors = np.array([pose(k, 0) for k in range(3)])
    seen = []
    cloud = map_from_submaps(tmp_path, anchors, cfg, tmp_path / "work", seen.append)
    assert (
        seen[:3] == pytest.approx([0.95 / 3, 0.95 * 2 / 3, 0.95])
        and seen[-1] == 1.0
        and len(cloud) > 1000
    )
    try:
        map_from_submaps(tmp_path, anchors[:2], cfg, tmp_path / "work")
    except ValueError as exc:
        assert "3 submaps for 2 anchors" in str(exc)
    else:
        raise AssertionError("a missing anchor must not pass")


def test_moving_things_are_removed_with_the_submaps_rays(tmp_path):
    rng = np.random.default_rng(2)
    wall = np.column_stack([np.full(6000, 8.0), rng.uniform(-2, 2, (6000, 2))])
    person = np.column_stack([np.full(300, 4.0), rng.uniform(-0.2, 0.2, (300, 2))])
    early = _submap(0, np.eye(4), np.vstack([wall, person]))
    late = _submap(1, np.eye(4), wall, 5.0)  # the person has gone: rays pass where they stood
    # tiles of 2 m: the rays that free where the person stood cross several tiles
    builder = MapBuilder(0.1, tmp_path / "work", remove_moving=True, tile_m=2.0)
    for s in (early, late, late, late):
        builder.add_submap(s, np.eye(4))
    cloud = builder.finish()
    assert (cloud.xyz_m[:, 0] > 7.5).mean() > 0.99
    assert (cloud.xyz_m[:, 0] > 7.5).sum() > 1500  # the wall stays (1600 voxels)


def test_statistical_outliers_are_removed_in_each_submap():
    rng = np.random.default_rng(1)
    plane = np.column_stack([rng.uniform(0, 5, (20000, 2)), np.zeros(20000)])
    stray = rng.uniform(-20, 20, (20, 3)) + np.array([0, 0, 10.0])
    ok = inliers(np.vstack([plane, stray]), 8, 2.5)
    assert not ok[-20:].any() and ok[:-20].mean() > 0.99
    content = SubmapContent(0.01, outlier_neighbors=8)
    b = SubmapBuilder(0, np.eye(4), content, coarse_voxel_m=0.5)
    pts = np.vstack([plane, stray])
    sweep = LidarSweep(0, pts.astype(np.float32), np.ones(len(pts), np.float32),
                       np.zeros(len(pts), np.float32), 0)  # fmt: skip
    b.add(OdometryStep(0, np.eye(4), pts, 1.0, np.zeros((6, 6)), False, pts,
                       np.arange(len(pts))), sweep)  # fmt: skip
    kept = without_outliers(b.finish(), content).xyz_m
    assert len(kept) > 15000 and kept[:, 2].max() < 1e-3  # the plane without the strays


def _walk_and_back(tmp_path, n=8):
    """Submaps of a walk 40 m out along a wall and back: tiles revisited by the way back."""
    rng = np.random.default_rng(5)
    local = np.column_stack([rng.uniform(-3, 3, 6000), rng.uniform(1.5, 2.5, 6000),
                             rng.uniform(0, 2, 6000)])  # fmt: skip
    xs = [5.0 * k for k in range(n)] + [5.0 * k + 2.5 for k in reversed(range(n))]
    anchors = np.array([pose(x, 0) for x in xs])
    for k, T in enumerate(anchors):
        _submap(k, T, local, t0_s=float(k)).save(tmp_path / "submaps")
    return anchors


def _voxel_set(cloud, voxel_m):
    return {tuple(v) for v in np.floor(np.asarray(cloud.xyz_m) / voxel_m).astype(int).tolist()}


def test_tiles_merged_while_the_walk_is_placed_make_the_map_merged_at_the_end(tmp_path):
    anchors = _walk_and_back(tmp_path)
    cfg = ProductsConfig(map_voxel_m=0.1, outlier_neighbors=0)
    streamed = map_from_submaps(tmp_path / "submaps", anchors, cfg, tmp_path / "a")
    builder = MapBuilder(0.1, tmp_path / "b")  # every tile merged at the end
    for path, T in zip(submap_files(tmp_path / "submaps"), anchors, strict=True):
        builder.add_submap(load_submap(path), T)
    at_end = builder.finish()
    order_a, order_b = (
        np.lexsort(np.asarray(streamed.xyz_m).T),
        np.lexsort(np.asarray(at_end.xyz_m).T),
    )
    assert len(streamed) == len(at_end) > 5000
    np.testing.assert_allclose(
        np.asarray(streamed.xyz_m)[order_a], np.asarray(at_end.xyz_m)[order_b]
    )
    np.testing.assert_array_equal(
        np.asarray(streamed.t_s)[order_a], np.asarray(at_end.t_s)[order_b]
    )


def test_points_for_a_tile_already_merged_are_kept_not_lost(tmp_path, monkeypatch, caplog):
    anchors = _walk_and_back(tmp_path)
    cfg = ProductsConfig(map_voxel_m=0.1, outlier_neighbors=0)
    whole = map_from_submaps(tmp_path / "submaps", anchors, cfg, tmp_path / "a")
    calls = []
    real = MapBuilder.tiles_near

    def wrong(self, xyz_m, margin_m):  # only the first submap is known to reach its tiles
        calls.append(1)
        return real(self, xyz_m, margin_m) if len(calls) == 1 else set()

    monkeypatch.setattr(MapBuilder, "tiles_near", wrong)
    cloud = map_from_submaps(tmp_path / "submaps", anchors, cfg, tmp_path / "b")
    assert "came for a tile already merged" in caplog.text
    assert _voxel_set(cloud, 0.1) == _voxel_set(whole, 0.1)  # every voxel is still there
