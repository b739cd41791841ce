"""Tests of slam.metrics (ATE, map sharpness) and drivers.sessions.trajectory (TUM files)."""

import os
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from drivers.sessions.trajectory import read_tum, write_tum
from slam.metrics import ate_rmse, map_sharpness, relative_error

REPO = Path(__file__).resolve().parents[2]
BALM_CANDIDATES = [
    Path(os.environ.get("SCANNER_BALM_DIR", "/nonexistent")),
    REPO / "shared/data/real/balm",
    REPO.parent / "shared/data/real/balm",
]


def make_poses(R: np.ndarray, t: np.ndarray) -> np.ndarray:
    T = np.tile(np.eye(4), (len(t), 1, 1))  # [N, 4, 4]
    T[:, :3, :3] = R
    T[:, :3, 3] = t
    return T


def helix(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A non-degenerate 3D trajectory: times [n], poses [n, 4, 4]."""
    s = np.linspace(0.0, 4.0 * np.pi, n)
    pos = np.column_stack([5 * np.cos(s), 3 * np.sin(s), 0.4 * s])
    rot = Rotation.from_rotvec(np.random.default_rng(seed).normal(0, 0.5, (n, 3))).as_matrix()
    return 1.63e9 + 0.1 * np.arange(n), make_poses(rot, pos)


def rigid(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    G = np.eye(4)
    G[:3, :3] = Rotation.random(random_state=seed).as_matrix()
    G[:3, 3] = rng.uniform(-50, 50, 3)
    return G


# --- ATE -------------------------------------------------------------------------------------


def test_ate_of_rigidly_moved_copy_is_zero_and_inputs_untouched():
    t, T_ref = helix(60)
    T_est = rigid(1) @ T_ref  # the same trajectory in another world frame
    T_est_before, T_ref_before = T_est.copy(), T_ref.copy()
    r = ate_rmse(t, T_est, t, T_ref)
    assert r.rmse_m < 1e-9 and r.max_m < 1e-9
    assert r.n_matched == 60
    np.testing.assert_array_equal(T_est, T_est_before)
    np.testing.assert_array_equal(T_ref, T_ref_before)


def test_ate_known_offset_survives_alignment():
    # Poses in stationary pairs; the estimate is off by +d then -d along z in each pair. The
    # errors have zero mean and no correlation with the positions, so the best rigid fit is
    # the identity and every matched pose is exactly d away.
    t, T = helix(40)
    T_ref = np.repeat(T, 2, axis=0)
    t_ref = 1.63e9 + 0.05 * np.arange(len(T_ref))
    d = 0.25
    T_est = T_ref.copy()
    T_est[:, 2, 3] += d * np.tile([1.0, -1.0], len(T))
    T_est = rigid(2) @ T_est
    r = ate_rmse(t_ref + 0.003, T_est, t_ref, T_ref)  # 3 ms clock offset: still associated
    assert r.rmse_m == pytest.approx(d, rel=1e-6)
    assert r.max_m == pytest.approx(d, rel=1e-6)
    assert r.n_matched == len(T_ref)


def test_ate_matches_only_close_stamps():
    t, T = helix(50)
    t_est = t.copy()
    t_est[::2] += 0.05  # half the stamps are 50 ms off: beyond max_dt_s
    r = ate_rmse(t_est, T, t, T, max_dt_s=0.01)
    assert r.n_matched == 25 and r.rmse_m < 1e-9


# --- map sharpness ---------------------------------------------------------------------------


def noisy_plane(n: int, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.column_stack([rng.uniform(-5, 5, (n, 2)), rng.normal(0.0, sigma, n)])  # [n, 3]


@pytest.mark.parametrize("sigma", [0.005, 0.02])
def test_plane_thickness_is_the_noise_sigma(sigma):
    pts = noisy_plane(100_000, sigma)
    r = map_sharpness([pts], np.eye(4)[None], every_scan=1, every_point=1, n_samples=2000)
    assert r.plane_thickness_median_m == pytest.approx(sigma, rel=0.15)
    assert r.n_samples == 2000
    # a disc of radius r has in-plane variances r^2 / 4
    var = np.array([0.3**2 / 4, 0.3**2 / 4, sigma**2])
    expected_entropy = 0.5 * np.log(np.prod(2 * np.pi * np.e * var))
    assert r.entropy_mean == pytest.approx(expected_entropy, abs=0.15)


def test_sharpness_uses_poses_as_world_from_sensor():
    # Three scans of the same noisy plane z=0, each expressed in its own sensor frame (turned
    # about z, lifted a few cm): the right poses stack them into one thin plane, the inverted
    # poses into three parallel planes cm apart.
    yaw = Rotation.from_euler("z", [[0.3], [2.0], [-1.2]]).as_matrix()
    T_world_lidar = make_poses(yaw, np.array([[0.5, 0, 0.03], [0, -0.4, -0.04], [0.2, 0.3, 0.0]]))
    scans = [
        (p - T[:3, 3]) @ T[:3, :3]  # R^T (p - t), the points in the sensor frame
        for s, T in enumerate(T_world_lidar)
        for p in [noisy_plane(30_000, 0.005, seed=s)]
    ]
    kw = dict(every_scan=1, every_point=1, n_samples=1000)
    good = map_sharpness(scans, T_world_lidar, **kw)
    bad = map_sharpness(scans, np.linalg.inv(T_world_lidar), **kw)
    assert good.plane_thickness_median_m == pytest.approx(0.005, rel=0.15)
    assert bad.plane_thickness_median_m > 0.02
    assert bad.entropy_mean > good.entropy_mean + 1.0


def test_sharpness_is_deterministic_for_a_seed():
    pts = noisy_plane(20_000, 0.01)
    a = map_sharpness([pts], np.eye(4)[None], every_scan=1, every_point=1, n_samples=500, seed=7)
    b = map_sharpness([pts], np.eye(4)[None], every_scan=1, every_point=1, n_samples=500, seed=7)
    assert a == b


def test_balm_reference_is_sharper_than_a_1_degree_perturbation():
    data = next((p for p in BALM_CANDIDATES if (p / "reference_poses.tum").is_file()), None)
    if data is None:
        pytest.skip("BALM data not found (shared/data/real/balm; or set SCANNER_BALM_DIR)")
    _, T_ref = read_tum(data / "reference_poses.tum")
    scans = [np.load(data / f"scan_{i:03d}.npz")["xyz_2mm"] * 0.002 for i in range(4)]
    T_ref = T_ref[:4]
    # tilt every scan by 1 degree about its own sensor origin, alternating the sign
    axes = np.array([[1.0, 0, 0], [0, 0, 1.0], [-1.0, 0, 0], [0, 0, -1.0]])
    T_bad = T_ref.copy()
    T_bad[:, :3, :3] = T_ref[:, :3, :3] @ Rotation.from_rotvec(np.deg2rad(1) * axes).as_matrix()
    kw = dict(every_scan=1, every_point=4, n_samples=5000)
    good, bad = map_sharpness(scans, T_ref, **kw), map_sharpness(scans, T_bad, **kw)
    assert good.plane_thickness_median_m < 0.5 * bad.plane_thickness_median_m
    assert good.entropy_mean < bad.entropy_mean - 0.5


# --- TUM files -------------------------------------------------------------------------------


def test_tum_round_trip(tmp_path):
    t, T = helix(30, seed=4)
    path = tmp_path / "traj.tum"
    write_tum(path, t, T)
    first = path.read_text().splitlines()[0].split()
    assert len(first) == 8
    q_xyzw = Rotation.from_matrix(T[0, :3, :3]).as_quat()
    assert abs(abs(np.dot(np.array(first[4:], dtype=float), q_xyzw)) - 1) < 1e-8  # qw last
    path.write_text("# t tx ty tz qx qy qz qw\n" + path.read_text())
    t2, T2 = read_tum(path)
    np.testing.assert_allclose(t2, t, atol=1e-6, rtol=0)
    np.testing.assert_allclose(T2, T, atol=1e-8)


def test_ate_of_a_trajectory_that_never_moves_does_not_crash():
    T = np.tile(np.eye(4), (10, 1, 1))
    T_off = T.copy()
    T_off[:, 0, 3] = 0.1  # a constant offset: removed by aligning the first poses
    t = np.arange(10.0)
    assert ate_rmse(t, T_off, t, T).rmse_m < 1e-9


def test_end_drift_of_a_moved_copy_is_zero_and_a_late_offset_is_measured():
    from slam.metrics import end_drift

    t, T = helix(300)  # 30 s
    moved = rigid(4) @ T
    d = end_drift(t, moved, t, T, align_s=5.0)
    assert d.end_m < 1e-9 and abs(d.z_end_m) < 1e-9 and d.n_matched == 300
    path = np.linalg.norm(np.diff(T[:, :3, 3], axis=0), axis=1).sum()
    assert d.path_m == pytest.approx(path)

    drifted = T.copy()
    drifted[:, 2, 3] += np.clip(t - t[0] - 10.0, 0.0, None) * 0.1  # up after 10 s: 2 m at the end
    d = end_drift(t, rigid(4) @ drifted, t, T, align_s=5.0)
    assert d.z_end_m == pytest.approx(1.99, abs=1e-6) and d.z_max_m == pytest.approx(1.99, abs=1e-6)
    assert d.end_m == pytest.approx(1.99, abs=1e-6)
    assert d.end_pct == pytest.approx(100 * 1.99 / path)


def test_end_drift_aligns_a_start_standing_still_by_orientation():
    from slam.metrics import end_drift

    t = 100.0 + 0.1 * np.arange(200)
    pos = np.zeros((200, 3))
    pos[60:, 0] = np.linspace(0.0, 20.0, 140)  # stands still for 6 s, then walks 20 m along x
    T = make_poses(np.tile(np.eye(3), (200, 1, 1)), pos)
    d = end_drift(t, rigid(7) @ T, t + 0.004, T, align_s=5.0)  # stamps 4 ms apart still match
    assert d.end_m < 1e-9 and d.path_m == pytest.approx(20.0)


def test_revisit_thickness_grows_with_the_offset_between_visits():
    from slam.metrics import revisit_thickness

    rng = np.random.default_rng(3)

    def wall(n):  # a 10 x 3 m wall at x = 0, 3 mm noise
        return np.column_stack(
            [rng.normal(0, 0.003, n), rng.uniform(0, 10, n), rng.uniform(0, 3, n)]
        )

    first, second = wall(40_000), wall(40_000)
    same = revisit_thickness(first, second)
    moved = revisit_thickness(first, second + [0.05, 0.0, 0.0])  # 5 cm off the wall
    elsewhere = revisit_thickness(first, second + [0.0, 20.0, 0.0])  # never seen twice

    assert len(same) > 1000 and np.median(same) < 0.005
    assert 0.02 < np.median(moved) < 0.03  # two planes 5 cm apart: 2.5 cm either side
    assert len(elsewhere) == 0


def test_relative_error_splits_a_tilt_into_its_height_error_over_the_distance():
    """A straight, level 200 m walk east; the estimate's path climbs at 0.1 deg while its
    orientation stays level (a pitch error integrated into the path): 17.5 cm per 100 m
    vertically, ~0 horizontally. A map tilted as a whole (orientation too) has no relative
    error."""
    t = np.arange(0.0, 200.0, 0.1)  # 1 m/s
    T_ref = np.tile(np.eye(4), (len(t), 1, 1))
    T_ref[:, 0, 3] = t
    T_est = T_ref.copy()
    pitch = Rotation.from_euler("y", -0.1, degrees=True).as_matrix()  # nose up: x climbs
    T_est[:, :3, 3] = T_ref[:, :3, 3] @ pitch.T
    r = relative_error(t, T_est, t, T_ref, 100.0)
    assert r.n_pairs > 100
    assert r.vertical_m == pytest.approx(100 * np.radians(0.1), rel=1e-3)
    assert r.horizontal_m < 1e-3
    T_est[:, :3, :3] = pitch  # the whole walk tilted: consistent with itself
    assert relative_error(t, T_est, t, T_ref, 100.0).vertical_m < 1e-9
    assert relative_error(t, T_est, t, T_ref, 500.0).n_pairs == 0  # a walk shorter than that
