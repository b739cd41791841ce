"""Tests of slam.site: scans of one yard, each in its own world, joined in one frame."""

import numpy as np

from slam.config import MappingConfig
from slam.mapping import Mapper, read_graph
from slam.se3 import se3_inv, so3_log, transform
from slam.site import join
from slam.submaps import SubmapContent
from tests.slam.scenes import pose, yard_points
from tests.slam.test_mapping import _steps

CONFIG = MappingConfig(submap_length_m=8.0)


def _line(x0: float, y: float, length_m: float, yaw: float = 0.0, step_m: float = 0.5):
    """A straight walk: true poses [N, 4, 4] in the yard."""
    T = pose(x0, y, 1.2, yaw)
    return np.array([T @ pose(k * step_m, 0) for k in range(int(length_m / step_m))])


def _scan(folder, yard, truth, seed: int):
    """The walk mapped in its own world: the first pose's frame (levelled: yaw only)."""
    rng = np.random.default_rng(seed)
    T_own_yard = se3_inv(truth[0])  # its odometry starts at identity
    own_yard, own_truth = transform(T_own_yard, yard), T_own_yard @ truth
    mapper = Mapper(CONFIG, folder, SubmapContent(0.05), levelled=True)
    for step, sweep in _steps(own_truth, own_yard, rng, yaw_drift_deg_per_step=0.0):
        mapper.add(step, sweep)
    mapper.finish({"sweeps_in": len(truth)})
    return read_graph(folder)


def test_scans_of_one_yard_are_joined_in_the_first_ones_frame(tmp_path):
    yard = yard_points(np.random.default_rng(0), size_m=60.0, n_boxes=150)
    walk_a = _line(-18.0, -4.0, 26.0)  # east along the yard
    walk_b = _line(4.0, 3.0, 24.0, yaw=np.pi * 0.8)  # back west, 7 m aside: another day
    a = _scan(tmp_path / "a", yard, walk_a, 1)
    b = _scan(tmp_path / "b", yard, walk_b, 2)
    far = _scan(tmp_path / "far", yard_points(np.random.default_rng(9), 60.0, 150), walk_a, 3)

    site = join([a, b, far], CONFIG)

    assert site.placed == [True, True, False]  # another yard: left out, not forced in
    assert len(site.T_site_anchor[2]) == 0 and np.isnan(site.T_site_world_guess[2]).all()
    assert {(k.a, k.b) for k in site.links} == {(0, 1)}
    assert {k.kind for k in site.links} >= {"appearance"}
    # scan b's anchors where they truly are, in scan a's world
    T_a_yard = se3_inv(walk_a[0])
    first_of = np.searchsorted(b.submap_of_pose, np.arange(b.n_submaps))  # each anchor's step
    truth_b = T_a_yard @ walk_b[first_of]
    for T, T_true in zip(site.T_site_anchor[1], truth_b, strict=True):
        err = se3_inv(T_true) @ T
        assert np.linalg.norm(err[:3, 3]) < 0.05
        assert np.degrees(np.linalg.norm(so3_log(err[:3, :3]))) < 0.3
    np.testing.assert_allclose(site.T_site_anchor[0], a.T_world_anchor, atol=0.02)
    assert set(site.timings_s) == {"load", "place", "link", "graph"}
