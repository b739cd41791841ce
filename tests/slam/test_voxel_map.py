"""The hashed voxel map: insertion, spacing, growth, eviction and plane fits."""

import numpy as np

from slam.voxel_hash import _hash, voxel_keys
from slam.voxel_map import Neighbours, VoxelMap


def plane_points(
    n: int,
    normal: np.ndarray,
    offset: float,
    rng: np.random.Generator,
    extent: float = 5.0,
    noise_m: float = 0.0,
) -> np.ndarray:
    """n points on the plane normal . p + offset = 0, within +-extent, with normal noise."""
    normal = normal / np.linalg.norm(normal)
    u = np.cross(normal, [1.0, 0, 0] if abs(normal[0]) < 0.9 else [0, 1.0, 0])
    u /= np.linalg.norm(u)
    v = np.cross(normal, u)
    ab = rng.uniform(-extent, extent, (n, 2))
    return (
        -offset * normal + ab[:, :1] * u + ab[:, 1:] * v + rng.normal(0, noise_m, (n, 1)) * normal
    )


def test_insert_respects_spacing_and_capacity():
    m = VoxelMap(voxel_size_m=0.5, max_points_per_voxel=10, min_point_spacing_m=0.1)
    m.add(np.zeros((5, 3)) + 0.25)  # five copies of one point: only one is kept
    assert m.num_points == 1 and len(m) == 1
    rng = np.random.default_rng(0)
    m.add(rng.uniform(0.0, 0.5, (1000, 3)))  # one voxel, many points: capped
    assert len(m) == 1 and m.num_points == 10
    pts = m.points()
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(len(pts))
    assert d.min() >= 0.1


def test_grows_past_its_initial_size_and_keeps_every_voxel():
    m = VoxelMap(
        voxel_size_m=1.0, max_points_per_voxel=1, min_point_spacing_m=0.01, reserved_voxels=16
    )
    assert len(m._table) == 64 and len(m._slot_keys) == 16  # both grow below
    grid = np.stack(
        np.meshgrid(np.arange(20), np.arange(20), np.arange(3), indexing="ij"), -1
    ).reshape(-1, 3)
    m.add(grid + 0.5)
    assert len(m) == 1200 and m.num_points == 1200
    assert len(m._table) >= 4 * 1200 and len(m._slot_keys) >= 1200
    assert m.occupied_fraction(grid + 0.25) == 1.0
    np.testing.assert_array_equal(np.unique(m.points(), axis=0), np.unique(grid + 0.5, axis=0))
    assert m.occupied_fraction(grid + 0.25 + [100.0, 0, 0]) == 0.0


def test_remove_far_evicts_by_distance_and_keeps_lookups_working():
    m = VoxelMap(voxel_size_m=1.0, max_points_per_voxel=1, min_point_spacing_m=0.01)
    xs = np.arange(-50, 50) + 0.5
    line = np.column_stack([xs, np.zeros_like(xs) + 0.5, np.zeros_like(xs) + 0.5])
    m.add(line)
    dropped = m.remove_far(np.array([0.0, 0.0, 0.0]), 10.0)
    kept = m.points()
    assert dropped == 100 - len(kept)
    assert np.all(np.linalg.norm(kept, axis=1) <= 10.0 + np.sqrt(3))
    assert m.occupied_fraction(line[np.abs(line[:, 0]) < 9]) == 1.0
    assert m.occupied_fraction(line[np.abs(line[:, 0]) > 12]) == 0.0
    m.add(line)  # re-adding after eviction works
    assert len(m) == 100


def test_fit_planes_recovers_a_noisy_plane():
    rng = np.random.default_rng(1)
    normal = np.array([0.3, -0.4, 0.866])
    normal /= np.linalg.norm(normal)
    m = VoxelMap(voxel_size_m=0.5, max_points_per_voxel=30, min_point_spacing_m=0.05)
    m.add(plane_points(20000, normal, -2.0, rng, noise_m=0.003))
    queries = plane_points(500, normal, -2.0, rng, extent=4.0) + 0.05 * normal  # 5 cm off the plane
    planes = m.fit_planes(queries, k=8, max_neighbor_distance_m=1.0, plane_tolerance_m=0.05)
    assert planes.valid.mean() > 0.95
    n = planes.normal[planes.valid]
    assert np.median(np.abs(n @ normal)) > 0.995
    residual = np.einsum("ij,ij->i", n, queries[planes.valid]) + planes.offset[planes.valid]
    assert np.median(np.abs(np.abs(residual) - 0.05)) < 0.005


def test_fit_planes_rejects_non_planar_and_empty_neighbourhoods():
    rng = np.random.default_rng(2)
    m = VoxelMap(voxel_size_m=0.5, max_points_per_voxel=50, min_point_spacing_m=0.01)
    m.add(rng.uniform(-1, 1, (5000, 3)))  # a volume, not a surface
    planes = m.fit_planes(rng.uniform(-0.5, 0.5, (200, 3)), k=8, plane_tolerance_m=0.05)
    assert planes.valid.mean() < 0.2  # tiny neighbourhoods of a volume can look flat
    far = m.fit_planes(np.array([[30.0, 0, 0]]))
    assert not far.valid.any()
    assert VoxelMap().fit_planes(np.zeros((3, 3))).valid.sum() == 0


def test_fit_planes_takes_a_tolerance_per_query():
    """A noisy patch of ground: refused at a near point's tolerance, taken at a far one's."""
    rng = np.random.default_rng(4)
    m = VoxelMap(voxel_size_m=0.5, max_points_per_voxel=27, min_point_spacing_m=0.1)
    xy = rng.uniform(-2, 2, (20000, 2))
    m.add(np.column_stack([xy, rng.normal(0, 0.04, len(xy))]))  # 4 cm: a far point
    queries = np.column_stack([rng.uniform(-1.5, 1.5, (400, 2)), np.zeros(400)])
    tight = m.fit_planes(queries, k=10, plane_tolerance_m=0.05).valid.mean()
    tol = np.where(np.arange(400) < 200, 0.05, 0.15)
    mixed = m.fit_planes(queries, k=10, plane_tolerance_m=tol).valid
    assert tight < 0.5
    assert mixed[200:].mean() > 0.9 > 0.5 > mixed[:200].mean()


def test_a_search_from_the_kept_neighbours_finds_the_same_planes():
    """The filter's re-search after a small move scans the neighbours kept by the last search:
    it must find exactly the planes a full search finds, dense or sparse, and keep most."""
    rng = np.random.default_rng(5)
    m = VoxelMap(voxel_size_m=0.5, max_points_per_voxel=27, min_point_spacing_m=0.1)
    m.add(rng.uniform(-6, 6, (3000, 3)))  # sparse: the 10 nearest reach past the 27 voxels
    for normal, offset in (([0, 0, 1.0], 1.5), ([1.0, 0, 0], -4.0), ([0.3, 0.8, 0.1], 0.5)):
        m.add(plane_points(20000, np.array(normal), offset, rng, noise_m=0.01))
    queries = rng.uniform(-5, 5, (2000, 3))
    kept = Neighbours.empty(len(queries), margin_m=0.06)
    first = m.fit_planes(queries, 10, 1.0, 0.05, kept)
    plain = m.fit_planes(queries, 10, 1.0, 0.05)
    assert first.valid.sum() > 100 and (kept.n >= 0).mean() > 0.3
    for move_m in (0.01, 0.03, 0.2):  # most within the margin's half, then past it
        moved = queries + rng.normal(0, move_m / np.sqrt(3), queries.shape)
        again = m.fit_planes(moved, 10, 1.0, 0.05, kept)
        full = m.fit_planes(moved, 10, 1.0, 0.05)
        assert np.array_equal(again.valid, full.valid)
        np.testing.assert_allclose(again.normal, full.normal, atol=1e-12)
        np.testing.assert_allclose(again.offset, full.offset, atol=1e-12)
    np.testing.assert_array_equal(first.valid, plain.valid)


def test_a_reused_search_buffer_keeps_nothing_from_its_last_queries():
    """The filter reuses one sweep's search buffers for the next (Neighbours.first); the map
    has grown since, so the neighbours kept for the last sweep are stale: the next sweep's
    queries, here at the same places, must get the planes of a fresh search."""
    rng = np.random.default_rng(6)
    m = VoxelMap(voxel_size_m=0.5, max_points_per_voxel=27, min_point_spacing_m=0.1)
    m.add(plane_points(8000, np.array([0, 0, 1.0]), 1.5, rng, noise_m=0.01))
    queries = rng.uniform(-5, 5, (2000, 3))
    queries[:, 2] = -1.5 + rng.normal(0, 0.05, 2000)  # near the floor
    pool = Neighbours.empty(2000, margin_m=0.06)
    m.fit_planes(queries, 10, 1.0, 0.05, pool.first(2000))
    assert (pool.n >= 0).sum() > 1000  # the rows hold these queries' neighbours
    m.add(plane_points(20000, np.array([0, 0, 1.0]), 1.45, rng, noise_m=0.002))  # 5 cm above
    stale = m.fit_planes(queries[:1500], 10, 1.0, 0.05, _copy(pool, 1500))  # not reset
    reused = m.fit_planes(queries[:1500], 10, 1.0, 0.05, pool.first(1500))
    fresh = m.fit_planes(queries[:1500], 10, 1.0, 0.05)
    assert not np.array_equal(stale.offset, fresh.offset)  # the test tells stale from fresh
    np.testing.assert_array_equal(reused.valid, fresh.valid)
    np.testing.assert_array_equal(reused.normal, fresh.normal)
    np.testing.assert_array_equal(reused.offset, fresh.offset)


def _copy(kept: Neighbours, n: int) -> Neighbours:  # the first n rows as kept, not reset
    return Neighbours(kept.margin_m, kept.idx[:n].copy(), kept.n[:n].copy(), kept.at[:n].copy())


def test_hash_spreads_voxels_along_every_axis():
    """Voxels in a row along x, y or z land in distinct slots: a hash that kept only the low
    bits of the packed key once sent every x to one slot, and the lookups crawled."""
    mask = (1 << 12) - 1
    for axis in range(3):
        ijk = np.zeros((1000, 3), dtype=np.int64)
        ijk[:, axis] = np.arange(-500, 500)
        keys = voxel_keys(ijk + 0.5, 1.0)
        slots = np.array([_hash(k, mask) for k in keys])
        assert len(np.unique(slots)) > 850, axis  # ~880 expected from 1000 into 4096 at random
