"""Tests of products.site: a site's map, its E57 with a scan per session, site.json."""

import json

import numpy as np
import pytest

from products.map import ProductsConfig
from products.site import SiteError, make_site, surface_distances
from slam.se3 import se3_inv
from tests.slam.scenes import yard_points
from tests.slam.test_site import CONFIG, _line, _scan


def test_a_site_of_two_scans_is_one_map_and_an_e57_with_each_scan_at_its_pose(tmp_path):
    import laspy
    import pye57
    from scipy.spatial.transform import Rotation

    yard = yard_points(np.random.default_rng(0), size_m=60.0, n_boxes=150)
    walk_a, walk_b = _line(-18.0, -4.0, 26.0), _line(4.0, 3.0, 24.0, yaw=np.pi * 0.8)
    _scan(tmp_path / "a" / "submaps", yard, walk_a, 1)
    _scan(tmp_path / "b" / "submaps", yard, walk_b, 2)

    doc = make_site(tmp_path / "site", [tmp_path / "a", tmp_path / "b"], CONFIG, ProductsConfig())

    out = tmp_path / "site"
    assert json.loads((out / "site.json").read_text()) == doc
    assert [s["placed"] for s in doc["sessions"]] == [True, True]
    assert doc["links"] and {k["a"] for k in doc["links"]} == {"a"}
    (overlap,) = doc["overlaps"]
    assert overlap["patches"] > 50 and overlap["rms_m"] < 0.01  # one yard, seen twice
    T_true = se3_inv(walk_a[0]) @ walk_b[0]  # b's world in a's
    T_b = np.array(doc["sessions"][1]["T_site_session"])
    assert np.linalg.norm(T_b[:3, 3] - T_true[:3, 3]) < 0.05
    e57 = pye57.E57(str(out / "map.e57"))
    assert e57.scan_count == 2
    h = e57.get_header(1)
    w, x, y, z = h.rotation
    np.testing.assert_allclose(Rotation.from_quat([x, y, z, w]).as_matrix(), T_b[:3, :3], atol=1e-6)
    np.testing.assert_allclose(h.translation, T_b[:3, 3], atol=1e-6)
    n_e57 = sum(e57.get_header(i).point_count for i in range(2))
    las = laspy.read(out / "map.laz")
    assert 0.5 * n_e57 < len(las.points) <= n_e57  # one map: what both saw, merged
    assert sorted(p.name for p in (out / "trajectories").iterdir()) == ["a.tum", "b.tum"]
    assert not (out / ".map").exists()


def test_a_site_needs_two_processed_sessions(tmp_path):
    with pytest.raises(SiteError, match="two"):
        make_site(tmp_path / "s", [tmp_path / "a"], CONFIG, ProductsConfig())
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(SiteError, match="not processed"):
        make_site(tmp_path / "s", [tmp_path / "a", tmp_path / "b"], CONFIG, ProductsConfig())
    with pytest.raises(SiteError, match="format"):
        make_site(tmp_path / "s", [tmp_path / "a", tmp_path / "b"], CONFIG, ProductsConfig(),
                  formats=("obj",))  # fmt: skip


def test_the_overlap_residual_is_the_distance_between_the_surfaces_not_the_noise():
    rng = np.random.default_rng(0)

    def room(n: int, shift_m: float) -> np.ndarray:  # [n, 3]: a floor and two walls, 2 cm noise
        p = rng.uniform(0.0, 4.0, (n, 3))
        side = rng.integers(0, 3, n)
        p[np.arange(n), side] = 0.0
        return p + rng.normal(0.0, 0.02, (n, 3)) + [0.0, 0.0, shift_m]

    same = surface_distances(room(300_000, 0.0), room(300_000, 0.0))
    assert same[2] > 1000 and same[0] < 0.004  # 2 cm noise averages out
    lifted = surface_distances(room(300_000, 0.0), room(300_000, 0.03))
    assert lifted[0] == pytest.approx(0.03 * np.sqrt(1 / 3), abs=0.006)  # the floor's third
