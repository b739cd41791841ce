"""Tests of products.copc: the map as a COPC octree that laspy's COPC reader pages."""

import numpy as np
import pytest

from products.copc import GRID, octree_depths, write_copc
from products.export import map_file, write_map
from products.map import MapCloud


def _room(n: int, seed: int = 0) -> MapCloud:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(0.0, 30.0, (n, 3))
    side = rng.integers(0, 3, n)
    xyz[np.arange(n), side] = 0.0  # a floor and two walls
    t = np.sort(rng.uniform(0.0, 60.0, n))
    return MapCloud(xyz, rng.uniform(0, 255, n).astype(np.float32), t)


def test_each_depth_samples_its_cells_once_and_every_point_has_one():
    xyz = _room(200_000).xyz_m
    depth = octree_depths(xyz, np.zeros(3), 30.0, 4)
    assert depth.min() == 0 and depth.max() == 4
    for d in range(4):  # at most one point per cell of its depth
        ijk = np.floor(xyz[depth == d] / 30.0 * (1 << d) * GRID).astype(np.int64)
        assert len(np.unique(ijk, axis=0)) == (depth == d).sum()
    shallow = (depth == 0).sum()
    assert 0.5 * 3 * GRID**2 < shallow < 3 * GRID**2  # an even overview of the three planes


def test_the_copc_map_reads_back_whole_and_by_level_and_box(tmp_path):
    laspy = pytest.importorskip("laspy")
    cloud = _room(300_000)
    path = tmp_path / map_file("copc")
    assert path.name == "map.copc.laz"
    write_map(path, cloud, "copc", gps_offset_s=1.7e9, voxel_m=0.02)
    with laspy.CopcReader.open(path) as r:
        assert r.header.point_count == len(cloud)
        every = r.query()
        coarse = r.query(resolution=0.5)  # the viewer's first page: the top levels only
        box = r.query(bounds=laspy.copc.Bounds(mins=np.array([0.0, 0.0]), maxs=np.array([5, 5])))
    assert len(every) == len(cloud) and 0 < len(coarse) < 0.7 * len(cloud)
    np.testing.assert_allclose(np.sort(np.asarray(every.x)), np.sort(cloud.xyz_m[:, 0]), atol=6e-4)
    np.testing.assert_allclose(
        np.sort(np.asarray(every.intensity)),
        np.sort((cloud.intensity * 257).astype(np.uint16)),
        atol=257,
    )
    inside = (cloud.xyz_m[:, :2] <= 5.0).all(axis=1).sum()
    assert inside <= len(box) < 2 * inside + 1000  # whole nodes: a little beyond the box
    assert np.asarray(every.gps_time).min() > 1.7e9 - 1e9 - 315_964_800  # adjusted GPS time


def test_an_empty_map_has_no_copc(tmp_path):
    empty = MapCloud(np.zeros((0, 3)), np.zeros(0, np.float32), np.zeros(0))
    with pytest.raises(ValueError, match="empty"):
        write_copc(tmp_path / "x.copc.laz", empty, 0.02)
