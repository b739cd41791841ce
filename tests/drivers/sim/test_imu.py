"""Tests of drivers.sim.imu: exact IMU kinematics along a trajectory, and the noise model."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from drivers.sim.imu import (
    EXTERNAL_IMU,
    G_WORLD_MPS2,
    GRAVITY_MPS2,
    ICM40609,
    T_LIDAR_IMU_MID360,
    ImuNoise,
    ImuSamples,
    simulate_imu,
    to_g,
)
from drivers.sim.motion import STILL_S, make_trajectory
from drivers.sim.trajectory import Trajectory

LOOP = np.array([[3, 0, 0], [6, 0, 0], [6, 4, 0.5], [0, 4, 0.5], [0, 0, 0]], dtype=float)
RATE_HZ = 200.0
DURATION_S = 30.0

# a second mount: turned 90 deg about z and tilted 30 deg about x, 10 cm off in each axis
T_TILTED = np.eye(4)
T_TILTED[:3, :3] = Rotation.from_euler("zx", [90, 30], degrees=True).as_matrix()
T_TILTED[:3, 3] = (0.1, -0.1, 0.1)
MOUNTS = {"mid360": T_LIDAR_IMU_MID360, "tilted": T_TILTED}


@cache
def traj(profile: str) -> Trajectory:
    return make_trajectory(LOOP, profile, DURATION_S, 4)


@cache
def imu(profile: str, mount: str, noisy: bool, seed: int = 0) -> ImuSamples:
    noise = ICM40609 if noisy else None
    return simulate_imu(traj(profile), MOUNTS[mount], DURATION_S, RATE_HZ, noise, seed)


def hat(w: np.ndarray) -> np.ndarray:  # [3] -> [3, 3]
    return np.array([[0, -w[2], w[1]], [w[2], 0, -w[0]], [-w[1], w[0], 0]])


def true_imu_state(
    tr: Trajectory, T_body_imu: np.ndarray, t_s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # R_world_imu [3, 3], p [3], v [3]
    t = np.array([t_s])
    R, p, v = tr.rotation(t)[0], tr.position(t)[0], tr.velocity_world(t)[0]
    r = T_body_imu[:3, 3]
    w = tr.angular_velocity_body(t)[0]
    return R @ T_body_imu[:3, :3], p + R @ r, v + R @ np.cross(w, r)


def integrate(
    R: np.ndarray,  # [3, 3] R_world_imu at the first sample
    p: np.ndarray,  # [3]
    v: np.ndarray,  # [3]
    gyro: np.ndarray,  # [2K + 1, 3] rad/s, IMU frame
    accel: np.ndarray,  # [2K + 1, 3] m/s^2 specific force, IMU frame
    dt_s: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Classical RK4 on SO(3) x R^3 x R^3, in steps of two samples so that the middle sample is
    the exact midpoint value; R is re-orthonormalised after every step."""
    h = 2.0 * dt_s

    def deriv(R, v, w, f):  # noqa: ANN001, ANN202
        return R @ hat(w), R @ f + G_WORLD_MPS2

    for k in range(0, len(gyro) - 2, 2):
        (w0, w1, w2), (f0, f1, f2) = gyro[k : k + 3], accel[k : k + 3]
        dR1, dv1 = deriv(R, v, w0, f0)
        dp1 = v
        dR2, dv2 = deriv(R + 0.5 * h * dR1, v + 0.5 * h * dv1, w1, f1)
        dp2 = v + 0.5 * h * dv1
        dR3, dv3 = deriv(R + 0.5 * h * dR2, v + 0.5 * h * dv2, w1, f1)
        dp3 = v + 0.5 * h * dv2
        dR4, dv4 = deriv(R + h * dR3, v + h * dv3, w2, f2)
        dp4 = v + h * dv3
        R = R + h / 6 * (dR1 + 2 * dR2 + 2 * dR3 + dR4)
        v, p = (
            v + h / 6 * (dv1 + 2 * dv2 + 2 * dv3 + dv4),
            p + h / 6 * (dp1 + 2 * dp2 + 2 * dp3 + dp4),
        )
        U, _, Vt = np.linalg.svd(R)
        R = U @ Vt
    return R, p, v


def dead_reckon_error(
    profile: str, mount: str, samples: ImuSamples, t_start_s: float, span_s: float = 1.0
) -> tuple[float, float]:  # position error m, rotation error rad after span_s
    i0, n = int(round(t_start_s * RATE_HZ)), int(round(span_s * RATE_HZ))
    tr, T = traj(profile), MOUNTS[mount]
    R, p, v = true_imu_state(tr, T, samples.t_s[i0])
    sl = slice(i0, i0 + n + 1)
    R, p, _ = integrate(R, p, v, samples.gyro_radps[sl], samples.accel_mps2[sl], 1.0 / RATE_HZ)
    R_true, p_true, _ = true_imu_state(tr, T, samples.t_s[i0 + n])
    return float(np.linalg.norm(p - p_true)), float(Rotation.from_matrix(R_true.T @ R).magnitude())


def dead_reckon_sigmas(noise: ImuNoise, span_s: float, with_bias: bool) -> tuple[float, float]:
    """Per-axis 1-sigma (position m, rotation rad) after dead reckoning span_s from a true state.

    Rotation: turn-on bias b_g t, white noise n_g sqrt(t), bias walk q_g sqrt(t^3 / 3).
    Position from the accelerometer: b_a t^2 / 2, n_a sqrt(t^3 / 3), q_a sqrt(t^5 / 20).
    Position from the tilt error turning the specific force f (|f| < 1.5 g in a walk) into a
    false acceleration: f (b_g t^3 / 6, n_g sqrt(t^5 / 20), q_g sqrt(t^7 / 252)).
    with_bias=False: the true biases are subtracted first, so only the white noise is left."""
    t, f = span_s, 1.5 * GRAVITY_MPS2
    b_g, b_a = (noise.gyro_turn_on_bias, noise.accel_turn_on_bias) if with_bias else (0.0, 0.0)
    q_g, q_a = (noise.gyro_bias_rw, noise.accel_bias_rw) if with_bias else (0.0, 0.0)
    n_g, n_a = noise.gyro_noise_density, noise.accel_noise_density
    rot = np.sqrt((b_g * t) ** 2 + n_g**2 * t + q_g**2 * t**3 / 3)
    pos_accel = np.sqrt((b_a * t**2 / 2) ** 2 + n_a**2 * t**3 / 3 + q_a**2 * t**5 / 20)
    pos_tilt = f * np.sqrt((b_g * t**3 / 6) ** 2 + n_g**2 * t**5 / 20 + q_g**2 * t**7 / 252)
    return float(np.hypot(pos_accel, pos_tilt)), float(rot)


# |3-D error| < 4.6 sigma has a chance of 1 - 1e-4 (chi-square, 3 dof)
K_SIGMA_3D = 4.6


def test_mid360_extrinsic() -> None:
    """The twin's IMU sits where the Livox manual puts it: (11.0, 23.29, -44.12) mm in the
    point-cloud frame (not FAST-LIO's extrinsic_T, which is the lidar in the IMU frame)."""
    np.testing.assert_array_equal(T_LIDAR_IMU_MID360[:3, :3], np.eye(3))
    np.testing.assert_array_equal(T_LIDAR_IMU_MID360[:3, 3], [0.011, 0.02329, -0.04412])
    np.testing.assert_array_equal(T_LIDAR_IMU_MID360[3], [0, 0, 0, 1])


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("profile", ["walk", "aggressive", "static"])
def test_at_rest_reads_exactly_gravity(profile: str, mount: str) -> None:
    s = imu(profile, mount, noisy=False)
    still = s.t_s < STILL_S
    assert np.count_nonzero(still) == int(STILL_S * RATE_HZ)
    R_world_imu = traj(profile).rotation(s.t_s[still]) @ MOUNTS[mount][:3, :3]
    up_in_imu = np.einsum("nji,j->ni", R_world_imu, [0.0, 0.0, GRAVITY_MPS2])  # R^T (0, 0, g)
    np.testing.assert_allclose(s.accel_mps2[still], up_in_imu, rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(s.accel_mps2[still], axis=1), GRAVITY_MPS2, atol=1e-9)
    assert np.abs(s.gyro_radps[still]).max() <= 1e-9
    if mount == "mid360":  # level lidar, IMU axes parallel: gravity reads +z
        np.testing.assert_allclose(
            s.accel_mps2[still].mean(axis=0), [0, 0, GRAVITY_MPS2], atol=1e-9
        )


@pytest.mark.parametrize("noise", [ICM40609, EXTERNAL_IMU], ids=["icm40609", "external"])
def test_at_rest_noisy_norm(noise: ImuNoise) -> None:
    """The mean norm at rest is g, within what the turn-on bias allows; without it, tightly."""
    for seed in range(5):
        s = simulate_imu(traj("walk"), T_LIDAR_IMU_MID360, STILL_S, RATE_HZ, noise, seed)
        n = len(s)
        white = noise.accel_noise_density * np.sqrt(RATE_HZ)
        # the bias along gravity shifts the norm: 4 sigma of the turn-on bias plus the walk
        bias_sigma = np.hypot(noise.accel_turn_on_bias, noise.accel_bias_rw * np.sqrt(STILL_S))
        norm = np.linalg.norm(s.accel_mps2, axis=1).mean()
        assert abs(norm - GRAVITY_MPS2) < 4 * bias_sigma + 4 * white / np.sqrt(n)
        # with the true bias taken out only white noise is left: 4 sigma of a mean of n, plus
        # the norm's own upward bias of ~white^2 / g
        norm = np.linalg.norm(s.accel_mps2 - s.accel_bias_mps2, axis=1).mean()
        assert abs(norm - GRAVITY_MPS2) < 4 * white / np.sqrt(n) + white**2 / GRAVITY_MPS2
        assert abs(norm - GRAVITY_MPS2) < 0.01


def test_noise_statistics_match_the_model() -> None:
    s = imu("walk", "mid360", noisy=True)
    still = s.t_s < STILL_S
    # at rest over 2 s: the spread is the white noise, density * sqrt(rate)
    accel_std = s.accel_mps2[still].std(axis=0, ddof=1)
    gyro_std = s.gyro_radps[still].std(axis=0, ddof=1)
    np.testing.assert_allclose(
        accel_std, ICM40609.accel_noise_density * np.sqrt(RATE_HZ), rtol=0.15
    )
    np.testing.assert_allclose(gyro_std, ICM40609.gyro_noise_density * np.sqrt(RATE_HZ), rtol=0.15)
    # over the whole 30 s (6000 x 3 samples): the noise left after the truth and the bias
    perfect = imu("walk", "mid360", noisy=False)
    accel_white = s.accel_mps2 - perfect.accel_mps2 - s.accel_bias_mps2
    gyro_white = s.gyro_radps - perfect.gyro_radps - s.gyro_bias_radps
    assert np.std(accel_white) == pytest.approx(
        ICM40609.accel_noise_density * np.sqrt(RATE_HZ), rel=0.03
    )
    assert np.std(gyro_white) == pytest.approx(
        ICM40609.gyro_noise_density * np.sqrt(RATE_HZ), rel=0.03
    )
    # the bias random walk: steps of rw * sqrt(1 / rate)
    for bias, rw in (
        (s.accel_bias_mps2, ICM40609.accel_bias_rw),
        (s.gyro_bias_radps, ICM40609.gyro_bias_rw),
    ):
        assert np.std(np.diff(bias, axis=0)) == pytest.approx(rw / np.sqrt(RATE_HZ), rel=0.03)
    # the turn-on bias over seeds
    first = np.array(
        [
            [*x.gyro_bias_radps[0], *x.accel_bias_mps2[0]]
            for x in (
                simulate_imu(traj("static"), T_LIDAR_IMU_MID360, 0.01, RATE_HZ, ICM40609, seed)
                for seed in range(200)
            )
        ]
    )
    np.testing.assert_allclose(first[:, :3].std(), ICM40609.gyro_turn_on_bias, rtol=0.1)
    np.testing.assert_allclose(first[:, 3:].std(), ICM40609.accel_turn_on_bias, rtol=0.1)


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize(
    ("profile", "t_start_s"), [("walk", 12.0), ("walk", 2.5), ("aggressive", 15.3)]
)
def test_perfect_imu_dead_reckons_onto_the_truth(
    profile: str, t_start_s: float, mount: str
) -> None:
    """1 s of RK4 from the true state lands on the true pose: the samples are exact kinematics
    (lever arm, centripetal and Euler terms, mount rotation included)."""
    pos_err, rot_err = dead_reckon_error(profile, mount, imu(profile, mount, False), t_start_s)
    assert pos_err < 1e-6  # m; measured ~1e-8: the RK4 error at h = 10 ms
    assert rot_err < 1e-6  # rad


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(("profile", "mount"), [("walk", "mid360"), ("aggressive", "tilted")])
def test_noisy_imu_dead_reckons_within_the_noise_bound(profile: str, mount: str, seed: int) -> None:
    s = imu(profile, mount, True, seed)
    pos_sigma, rot_sigma = dead_reckon_sigmas(ICM40609, 1.0, with_bias=True)
    pos_err, rot_err = dead_reckon_error(profile, mount, s, 12.0)
    # ICM-40609: sigma ~0.12 m (the 25 mg turn-on bias: b t^2 / 2), ~0.5 deg (0.5 deg/s)
    assert pos_err < K_SIGMA_3D * pos_sigma and rot_err < K_SIGMA_3D * rot_sigma
    # with the true bias subtracted only the white noise is left: sigma ~0.6 mm, ~0.005 deg
    pos_sigma, rot_sigma = dead_reckon_sigmas(ICM40609, 1.0, with_bias=False)
    unbiased = ImuSamples(
        s.t_s,
        s.gyro_radps - s.gyro_bias_radps,
        s.accel_mps2 - s.accel_bias_mps2,
        s.gyro_bias_radps,
        s.accel_bias_mps2,
    )
    pos_err, rot_err = dead_reckon_error(profile, mount, unbiased, 12.0)
    assert pos_err < K_SIGMA_3D * pos_sigma + 1e-4 and rot_err < K_SIGMA_3D * rot_sigma + 1e-6


def test_lever_arm_by_finite_differences() -> None:
    """The specific force, rotated to the world plus gravity, is the IMU point's acceleration."""
    tr, T = traj("aggressive"), T_TILTED
    t = np.linspace(5.0, 25.0, 50)
    s = simulate_imu(tr, T, 0.005, RATE_HZ, None, 0, t0_s=5.0)
    assert s.t_s[0] == 5.0 and len(s) == 1
    h = 1e-3

    def p_imu(t_s):  # noqa: ANN001, ANN202
        return tr.position(t_s) + np.einsum("nij,j->ni", tr.rotation(t_s), T[:3, 3])

    a_fd = (p_imu(t + h) - 2 * p_imu(t) + p_imu(t - h)) / h**2
    samples = [simulate_imu(tr, T, 0.005, RATE_HZ, None, 0, t0_s=ti) for ti in t]
    f = np.array([x.accel_mps2[0] for x in samples])
    R_world_imu = tr.rotation(t) @ T[:3, :3]
    a_imu = np.einsum("nij,nj->ni", R_world_imu, f) + G_WORLD_MPS2
    np.testing.assert_allclose(a_imu, a_fd, rtol=0, atol=1e-3)
    # and the gyro is the body rate in IMU axes
    w = np.array([x.gyro_radps[0] for x in samples])
    np.testing.assert_allclose(w, tr.angular_velocity_body(t) @ T[:3, :3], atol=1e-12)


def test_to_g() -> None:
    assert to_g(np.array([0.0, 0.0, 9.80665])).tolist() == [0.0, 0.0, 1.0]
    a = np.random.default_rng(0).normal(size=(10, 3))
    np.testing.assert_allclose(to_g(a) * 9.80665, a, rtol=1e-15)


def test_deterministic_per_seed() -> None:
    a = simulate_imu(traj("walk"), T_LIDAR_IMU_MID360, 5.0, RATE_HZ, ICM40609, 3)
    b = simulate_imu(traj("walk"), T_LIDAR_IMU_MID360, 5.0, RATE_HZ, ICM40609, 3)
    c = simulate_imu(traj("walk"), T_LIDAR_IMU_MID360, 5.0, RATE_HZ, ICM40609, 4)
    for name in ("t_s", "gyro_radps", "accel_mps2", "gyro_bias_radps", "accel_bias_mps2"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.accel_mps2, c.accel_mps2)
    assert not np.array_equal(a.gyro_bias_radps, c.gyro_bias_radps)
    # sample times: t0 + k / rate, round(duration * rate) of them
    np.testing.assert_allclose(a.t_s, np.arange(1000) / RATE_HZ)
    assert a.accel_mps2.shape == (1000, 3)
