"""Tests of products.copc: the map as a COPC octree that laspy's COPC reader pages."""

import numpy as np
import pytest

from products.copc import GRID, CopcError, CopcPages, octree_depths, subtrees, write_copc
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


def _nodes(path) -> dict:  # {VoxelKey: points} as copclib reads the file
    import copclib

    r = copclib.FileReader(str(path))
    return {(n.key.d, n.key.x, n.key.y, n.key.z): n.point_count for n in r.GetAllNodes()}


def test_streamed_in_small_subtrees_the_octree_is_the_same(tmp_path):
    """The streamed writer places a subtree at a time: the same nodes, the same points in each,
    as when the whole map is one subtree."""
    cloud = _room(150_000, seed=3)
    whole = write_copc(tmp_path / "whole.copc.laz", cloud, 0.02, subtree_points=10**9)
    parts = write_copc(tmp_path / "parts.copc.laz", cloud, 0.02, subtree_points=4_000)
    assert parts["subtrees"] > 2 * whole["subtrees"]  # split deeper
    assert _nodes(tmp_path / "parts.copc.laz") == _nodes(tmp_path / "whole.copc.laz")
    a = CopcPages(tmp_path / "whole.copc.laz")
    b = CopcPages(tmp_path / "parts.copc.laz")
    for d, x, y, z, _ in a.hierarchy()["nodes"]:
        assert a.node((d, x, y, z)) == b.node((d, x, y, z))  # the same points, in the same order


def test_subtrees_hold_every_point_once_and_stay_small(tmp_path):
    xyz = _room(100_000, seed=4).xyz_m
    seen = []
    for (d, x, y, z), idx in subtrees(xyz, np.zeros(3), 30.0, 5, tmp_path, subtree_points=5_000):
        assert len(idx) <= 5_000 or d == 5
        assert np.all(np.diff(idx.astype(np.int64)) > 0)  # map order
        cell = np.floor(xyz[idx] / 30.0 * (1 << d)).astype(np.int64)
        assert (cell == [x, y, z]).all()  # inside its node
        seen.append(idx)
    assert np.array_equal(np.sort(np.concatenate(seen)), np.arange(len(xyz)))
    assert not any(tmp_path.iterdir())  # its files taken


def test_the_pages_give_every_point_once_with_its_colour(tmp_path):
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(5)
    room = _room(60_000, seed=5)
    xyz = room.xyz_m + [500_000.0, 5_700_000.0, 100.0]  # survey coordinates: float32 from centre
    rgb = rng.integers(0, 256, (len(xyz), 3)).astype(np.uint8)
    cloud = MapCloud(xyz, room.intensity, room.t_s, rgb)
    write_copc(tmp_path / "m.copc.laz", cloud, 0.02)
    pages = CopcPages(tmp_path / "m.copc.laz")
    h = pages.hierarchy()
    assert h["points"] == len(xyz) == sum(n[4] for n in h["nodes"]) and h["rgb"]
    np.testing.assert_allclose(h["center_m"], (xyz.min(0) + xyz.max(0)) / 2, atol=1e-3)
    got = []
    for d, x, y, z, count in h["nodes"]:
        body = pages.node((d, x, y, z))
        assert len(body) == 16 * count
        at = np.frombuffer(body[: 12 * count], np.float32).reshape(count, 3) + h["center_m"]
        got.append(np.c_[at, np.frombuffer(body[12 * count :], np.uint8).reshape(count, 4)])
    got = np.concatenate(got)
    dist, i = cKDTree(xyz).query(got[:, :3])
    assert dist.max() < 1e-3 and len(np.unique(i)) == len(xyz)
    assert (got[:, 3:6] == rgb[i]).all()
    assert np.abs(got[:, 6] - room.intensity[i]).max() <= 1.0
    with pytest.raises(KeyError):
        pages.node((9, 0, 0, 0))


def test_a_damaged_copc_is_a_clear_error(tmp_path):
    """Not COPC, cut short, or a chunk overwritten: CopcError (lazrs panics on a bad chunk,
    which is not an Exception), never a crash."""
    write_copc(tmp_path / "m.copc.laz", _room(50_000, seed=6), 0.02)
    data = (tmp_path / "m.copc.laz").read_bytes()
    pages = CopcPages(tmp_path / "m.copc.laz")
    offset, size, _ = pages._nodes[(0, 0, 0, 0)]
    (tmp_path / "garbage.copc.laz").write_bytes(b"not a map" * 100)
    (tmp_path / "short.copc.laz").write_bytes(data[: len(data) // 2])
    (tmp_path / "bad.copc.laz").write_bytes(
        data[:offset] + bytes(size) + data[offset + size :]  # the root's chunk zeroed
    )
    for name in ("garbage", "short"):
        with pytest.raises(CopcError):
            CopcPages(tmp_path / f"{name}.copc.laz")
    with pytest.raises(CopcError):
        CopcPages(tmp_path / "bad.copc.laz").node((0, 0, 0, 0))


def test_a_subtree_whose_points_all_sit_above_it_writes_no_node_of_its_own(tmp_path):
    """A few points spread over many subtrees: each is claimed by a shallower node, so a subtree
    may own none (the streamed writer then has nothing of its own to write)."""
    rng = np.random.default_rng(7)
    xyz = rng.uniform(0.0, 30.0, (400, 3))
    cloud = MapCloud(xyz, np.zeros(400, np.float32), np.zeros(400))
    info = write_copc(tmp_path / "m.copc.laz", cloud, 0.02, subtree_points=1)
    assert info["points"] == 400 and sum(_nodes(tmp_path / "m.copc.laz").values()) == 400
