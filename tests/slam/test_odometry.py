"""The lidar odometry end to end: synthetic motion with distortion, bad input, real scans."""

from pathlib import Path

import numpy as np
import pytest

from drivers.frames import LidarSweep
from slam.config import OdometryConfig
from slam.odometry import LidarOdometry, TooFewPointsError
from slam.preprocess import deskew
from slam.se3 import se3_exp, se3_inv, se3_log, transform
from tests.slam.scenes import box_surface_points

BALM = Path(__file__).resolve().parents[3] / "shared" / "data" / "real" / "balm"


def test_deskew_recovers_a_known_rotation_within_one_sweep():
    rng = np.random.default_rng(0)
    points_ref = rng.uniform(-10, 10, (1000, 3))  # in the frame at the sweep's reference time
    dt = rng.uniform(0, 0.1, 1000)
    xi_per_s = np.array([0.1, -0.2, 3.0, 1.0, 0.5, 0.0])  # 3 rad/s of yaw
    # each point was measured in the frame of its own time: p_t = T(t)^-1 p_ref
    poses = [se3_inv(se3_exp(xi_per_s * t)) for t in dt]
    seen = np.array([transform(T, p[None])[0] for T, p in zip(poses, points_ref, strict=True)])
    fixed = deskew(seen, dt.astype(np.float32), se3_exp(xi_per_s * 0.1), 0.1)
    before = np.linalg.norm(seen - points_ref, axis=1).max()
    after = np.linalg.norm(fixed - points_ref, axis=1).max()
    assert before > 1.0 and after < 0.01


def _sweeps(n: int, rng: np.random.Generator, with_times: bool):
    """The sensor stands still for 0.3 s, then moves at 1 m/s turning 0.5 rad/s; 10 Hz sweeps."""
    xi_per_s = np.array([0.0, 0.0, 0.5, 1.0, 0.2, 0.0])
    T0 = se3_exp(np.array([0, 0, 0.2, -2.0, 0.5, 0.0]))

    def pose(t: float) -> np.ndarray:
        return T0 @ se3_exp(xi_per_s * max(t - 0.3, 0.0))

    sweeps = []
    for i in range(n):
        t0 = 0.1 * i
        world = box_surface_points(20000, rng, noise_m=0.005)
        dt = np.sort(rng.uniform(0, 0.1, len(world))).astype(np.float32)
        lidar = np.empty_like(world)
        for c in np.array_split(np.arange(len(world)), 10 if with_times else 1):
            # each point is measured from the pose at its own time (10 steps per sweep)
            lidar[c] = transform(
                se3_inv(pose(t0 + float(dt[c].mean()) if with_times else t0)), world[c]
            )
        sweeps.append(
            LidarSweep(
                t_ns=round(t0 * 1e9), xyz_m=lidar, point_dt_s=dt if with_times else None, index=i
            )
        )
    return pose, sweeps


@pytest.mark.parametrize("with_times", [False, True])
def test_odometry_tracks_synthetic_motion(with_times):
    pose, sweeps = _sweeps(15, np.random.default_rng(1), with_times)
    odom = LidarOdometry(OdometryConfig(min_range_m=0.3))
    steps = [odom.register_frame(s) for s in sweeps]
    T_first_true = pose(steps[0].t_ns * 1e-9)
    for i, step in enumerate(steps):  # odometry starts at identity: compare motion since then
        T_true = se3_inv(T_first_true) @ pose(step.t_ns * 1e-9)
        err = se3_log(se3_inv(T_true) @ step.T_world_lidar)
        # the synthetic sensor jumps from rest to 1 m/s at once: the two sweeps after that step
        # are deskewed with the old velocity; the error then settles
        settled = i < 3 or i >= 6
        assert np.linalg.norm(err[3:]) < (0.015 if settled else 0.05)
        assert np.degrees(np.linalg.norm(err[:3])) < (0.3 if settled else 1.5)
    # a deskewed pose refers to the middle of its sweep
    assert abs(steps[-1].t_ns - sweeps[-1].t_ns - (50_000_000 if with_times else 0)) < 100_000


def test_bad_sweeps_raise_or_are_cleaned():
    odom = LidarOdometry()
    with pytest.raises(TooFewPointsError):
        odom.register_frame(LidarSweep(t_ns=0, xyz_m=np.ones((50, 3))))
    with pytest.raises(TooFewPointsError):  # all NaN
        odom.register_frame(LidarSweep(t_ns=0, xyz_m=np.full((5000, 3), np.nan)))
    rng = np.random.default_rng(2)
    pts = box_surface_points(20000, rng)
    pts[::10] = np.nan  # NaN rows are dropped, the rest registers
    first = odom.register_frame(LidarSweep(t_ns=0, xyz_m=pts))
    second = odom.register_frame(LidarSweep(t_ns=100_000_000, xyz_m=pts))
    assert np.isfinite(first.points_world).all() and np.isfinite(second.T_world_lidar).all()
    np.testing.assert_allclose(second.T_world_lidar, np.eye(4), atol=2e-3)


@pytest.mark.skipif(not BALM.is_dir(), reason=f"real BALM scans not found at {BALM}")
def test_real_scans_follow_the_reference():
    """The first 16 real scans (8 s of walking): ATE well under 10 cm against BALM's poses."""
    from drivers.sessions.trajectory import read_tum
    from slam.metrics import ate_rmse

    t_ref, T_ref = read_tum(BALM / "reference_poses.tum")
    odom = LidarOdometry()
    t_s, poses = [], []
    for i in range(16):
        with np.load(BALM / f"scan_{i:03d}.npz") as z:
            sweep = LidarSweep(t_ns=round(float(z["t"]) * 1e9), xyz_m=z["xyz_2mm"] * 0.002, index=i)
        poses.append(odom.register_frame(sweep).T_world_lidar)
        t_s.append(sweep.t_s)
    ate = ate_rmse(np.array(t_s), np.array(poses), t_ref, T_ref)
    assert ate.n_matched == 16
    assert ate.rmse_m < 0.03
