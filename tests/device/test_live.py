import numpy as np

from device.live import (
    KIND_TRAJECTORY,
    KIND_UPDATE,
    LiveBuffer,
    LivePose,
    NewVoxelFilter,
    pack_trajectory,
    pack_update,
    unpack,
)


def test_only_points_in_new_voxels_pass():
    f = NewVoxelFilter(0.5)
    a = np.array([[0.1, 0.1, 0.1], [0.2, 0.2, 0.2], [1.1, 0.1, 0.1]])
    assert len(f.new_points(a)) == 2  # two voxels
    assert len(f.new_points(a)) == 0  # seen
    b = np.array([[0.3, 0.3, 0.3], [-0.1, 0.1, 0.1], [5.0, 5.0, 5.0]])
    out = f.new_points(b)
    np.testing.assert_allclose(out, b[1:], rtol=1e-6)
    assert len(f) == 4


def test_new_voxel_filter_matches_a_set_on_random_clouds():
    rng = np.random.default_rng(1)
    f, seen, total = NewVoxelFilter(0.3), set(), 0
    for _ in range(20):
        pts = rng.uniform(-10, 10, (2000, 3))
        new = f.new_points(pts)
        keys = {tuple(k) for k in np.floor(pts / 0.3).astype(int)}
        assert len(new) == len(keys - seen)
        seen |= keys
        total += len(new)
    assert total == len(f) == len(seen)


def test_buffer_hands_out_points_from_any_cursor_in_pieces():
    buf = LiveBuffer()
    g0 = buf.generation
    chunks = [np.full((n, 3), i, np.float32) for i, n in enumerate((5, 0, 7, 3))]
    for i, c in enumerate(chunks):
        T = np.eye(4)
        T[0, 3] = i
        buf.add(LivePose(i, T), c)
    assert buf.n_points == 15 and abs(buf.distance_m - 3.0) < 1e-9
    got, cursor = [], 0
    while True:
        pts, cursor = buf.since(cursor, 4)
        if not len(pts):
            break
        got.append(pts)
    np.testing.assert_array_equal(np.concatenate(got), np.concatenate(chunks))
    assert buf.trajectory().shape == (4, 3)
    buf.reset()
    assert buf.generation == g0 + 1 and buf.n_points == 0 and buf.pose is None


def test_buffer_stops_growing_at_its_cap():
    buf = LiveBuffer(max_points=10)
    buf.add(LivePose(0, np.eye(4)), np.zeros((8, 3), np.float32))
    buf.add(LivePose(1, np.eye(4)), np.zeros((8, 3), np.float32))
    assert buf.n_points == 8 and buf.truncated


def test_messages_round_trip():
    pts = np.arange(12, dtype=np.float32).reshape(4, 3)
    m = unpack(pack_update(7, 12.5, 0.25, np.array([1, 2, 3, 0, 0, 0, 1.0]), pts))
    assert m["kind"] == KIND_UPDATE and m["seq"] == 7 and m["t_s"] == 12.5
    assert m["lag_s"] == 0.25
    np.testing.assert_array_equal(m["points"], pts)
    np.testing.assert_allclose(m["pose"], [1, 2, 3, 0, 0, 0, 1])
    t = unpack(pack_trajectory(0, pts))
    assert t["kind"] == KIND_TRAJECTORY
    np.testing.assert_array_equal(t["points"], pts)
