"""A 6-axis MEMS IMU sampling a ground-truth Trajectory: exact kinematics plus a noise model.

The model is the usual continuous-time one (as in Kalibr's IMU noise model): white noise of
a given density plus a bias that starts at a random turn-on value and then random-walks.
Discretised at rate_hz: white std = density * sqrt(rate_hz), bias step std = rw / sqrt(rate_hz).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from drivers.sessions.manifest import MID360_T_LIDAR_IMU
from drivers.sim.realism import ImuErrors
from drivers.sim.trajectory import Trajectory

log = logging.getLogger(__name__)

GRAVITY_MPS2 = 9.80665
G_WORLD_MPS2 = np.array([0.0, 0.0, -GRAVITY_MPS2])  # [3] gravity, world frame (z up)

_DEG = np.pi / 180.0
_UG = 1e-6 * GRAVITY_MPS2
_MG = 1e-3 * GRAVITY_MPS2


@dataclass(frozen=True)
class ImuNoise:
    """Continuous-time noise densities, bias random walks and 1-sigma turn-on biases (per axis)."""

    gyro_noise_density: float  # rad/s/sqrt(Hz)
    accel_noise_density: float  # m/s^2/sqrt(Hz)
    gyro_bias_rw: float  # rad/s^2/sqrt(Hz)
    accel_bias_rw: float  # m/s^3/sqrt(Hz)
    gyro_turn_on_bias: float  # rad/s
    accel_turn_on_bias: float  # m/s^2


# The Mid-360's built-in IMU, an ICM-40609-D.
ICM40609 = ImuNoise(
    # TDK DS-000330 rev 1.2 (ICM-40609-D), feature list: "Gyro Noise: 4.5 mdps/sqrt(Hz)".
    gyro_noise_density=0.0045 * _DEG,
    # DS-000330: "Accel Noise: 100 ug/sqrt(Hz)".
    accel_noise_density=100.0 * _UG,
    # Not in the datasheet. About twice Kalibr's EuRoC ADIS16448 value (1.94e-5), a consumer
    # part drifting more; also the order of its +-10 mdps/degC offset tempco with a few degC
    # of self-heating over minutes.
    gyro_bias_rw=4e-5,
    # Not in the datasheet. Between the +-0.15 mg/degC offset tempco (~1.5e-4 for 1 degC per
    # 100 s) and Kalibr's EuRoC ADIS16448 value (3e-3).
    accel_bias_rw=1e-3,
    # Board-level initial tolerances of TDK's 4xxxx parts, used as 1 sigma: ZRO +-0.5 dps,
    # zero-g offset +-20..40 mg.
    gyro_turn_on_bias=0.5 * _DEG,
    accel_turn_on_bias=25.0 * _MG,
)

# A survey-grade-ish external serial IMU (Xsens MTi-630 class; from the MTi 600-series
# datasheet figures as we recall them, not re-checked here). Its advantage is in the bias:
# factory temperature-calibrated, in-run bias stability 8 deg/h and ~10-15 ug. Note its
# datasheet gyro white noise (0.007 deg/s/sqrt(Hz)) is not lower than the ICM chip's typical
# figure; the accel's (60 ug/sqrt(Hz)) is.
EXTERNAL_IMU = ImuNoise(
    gyro_noise_density=0.007 * _DEG,
    accel_noise_density=60.0 * _UG,
    # bias instability B reached over ~100 s of random walk: rw = B / sqrt(100 s)
    gyro_bias_rw=4e-6,  # 8 deg/h = 3.9e-5 rad/s
    accel_bias_rw=2e-5,  # 15 ug = 1.5e-4 m/s^2 (rounded up)
    # assumed: a calibrated unit's turn-on repeatability, a fifth of the ICM's
    gyro_turn_on_bias=0.1 * _DEG,
    accel_turn_on_bias=5.0 * _MG,
)

# The Mid-360's IMU in the lidar frame: the one constant the sessions' factory calibration uses
T_LIDAR_IMU_MID360 = np.array(MID360_T_LIDAR_IMU)  # [4, 4]
T_LIDAR_IMU_MID360.setflags(write=False)


@dataclass(frozen=True, eq=False)
class ImuSamples:
    """IMU samples in the IMU frame, with the true biases they contain."""

    t_s: np.ndarray  # [N] trajectory time
    gyro_radps: np.ndarray  # [N, 3] angular rate, IMU frame
    accel_mps2: np.ndarray  # [N, 3] specific force, IMU frame (+g up at rest)
    gyro_bias_radps: np.ndarray  # [N, 3] the true gyro bias in each sample
    accel_bias_mps2: np.ndarray  # [N, 3] the true accel bias in each sample

    def __post_init__(self) -> None:
        n = len(self.t_s)
        for name in ("gyro_radps", "accel_mps2", "gyro_bias_radps", "accel_bias_mps2"):
            if getattr(self, name).shape != (n, 3):
                raise ValueError(f"{name} must be [{n}, 3], got {getattr(self, name).shape}")

    def __len__(self) -> int:
        return len(self.t_s)


def simulate_imu(
    traj: Trajectory,
    T_body_imu: np.ndarray,  # [4, 4] the IMU's pose in the body (lidar) frame
    duration_s: float,
    rate_hz: float = 200.0,
    noise: ImuNoise | None = ICM40609,
    seed: int = 0,
    t0_s: float = 0.0,
    errors: ImuErrors | None = None,
) -> ImuSamples:
    """Samples at t0_s + k / rate_hz for k < round(duration_s * rate_hz); noise=None: perfect.
    `errors` adds the datasheet's deterministic errors (unit_errors): scale and cross-axis,
    and the offsets' drift as the unit warms up."""
    T_body_imu = np.asarray(T_body_imu, dtype=float)
    if T_body_imu.shape != (4, 4):
        raise ValueError(f"T_body_imu must be [4, 4], got {T_body_imu.shape}")
    if not rate_hz > 0:
        raise ValueError(f"rate_hz must be > 0, got {rate_hz}")
    n = int(round(duration_s * rate_hz))
    t_s = t0_s + np.arange(n) / rate_hz

    R_world_body = traj.rotation(t_s)  # [n, 3, 3]
    omega_body = traj.angular_velocity_body(t_s)
    alpha_body = traj.angular_accel_body(t_s)
    R_body_imu, r_body = T_body_imu[:3, :3], T_body_imu[:3, 3]
    # a_imu = a_body + R (alpha x r + omega x (omega x r)); f = R_imu^T (a_imu - g)
    lever_body = np.cross(alpha_body, r_body) + np.cross(omega_body, np.cross(omega_body, r_body))
    a_rel_world = traj.accel_world(t_s) - G_WORLD_MPS2
    f_body = np.einsum("nji,nj->ni", R_world_body, a_rel_world) + lever_body
    accel = f_body @ R_body_imu  # rows: R_body_imu^T f
    gyro = omega_body @ R_body_imu

    if noise is None:
        zeros = np.zeros((n, 3))
        return ImuSamples(t_s, gyro, accel, zeros, zeros.copy())

    rng = np.random.default_rng([seed, 0x1A0])  # a stream of its own, not the motion's
    gyro_bias = _bias(rng, n, noise.gyro_turn_on_bias, noise.gyro_bias_rw, rate_hz)
    accel_bias = _bias(rng, n, noise.accel_turn_on_bias, noise.accel_bias_rw, rate_hz)
    if errors is not None:
        unit = unit_errors(errors, seed)
        gyro, accel = gyro @ unit.gyro_matrix.T, accel @ unit.accel_matrix.T
        delta_t = unit.temperature_rise_degc(t_s)[:, None]  # [n, 1]
        gyro_bias = gyro_bias + delta_t * unit.gyro_tempco_radps_per_degc
        accel_bias = accel_bias + delta_t * unit.accel_tempco_mps2_per_degc
    gyro = gyro + gyro_bias + rng.normal(0.0, noise.gyro_noise_density * np.sqrt(rate_hz), (n, 3))
    accel = (
        accel + accel_bias + rng.normal(0.0, noise.accel_noise_density * np.sqrt(rate_hz), (n, 3))
    )
    return ImuSamples(t_s, gyro, accel, gyro_bias, accel_bias)


@dataclass(frozen=True, eq=False)
class UnitErrors:
    """One simulated unit's deterministic IMU errors, drawn once from the seed (realism.py)."""

    gyro_matrix: np.ndarray  # [3, 3] measured = M true: I + scale (diagonal) + cross-axis
    accel_matrix: np.ndarray  # [3, 3]
    gyro_tempco_radps_per_degc: np.ndarray  # [3]
    accel_tempco_mps2_per_degc: np.ndarray  # [3]
    warmup_rise_degc: float
    warmup_tau_s: float

    def temperature_rise_degc(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N]
        """The die's temperature above its power-on value: first order, from t = 0."""
        if self.warmup_rise_degc == 0.0:
            return np.zeros_like(t_s)
        return self.warmup_rise_degc * (1.0 - np.exp(-np.maximum(t_s, 0.0) / self.warmup_tau_s))

    def to_dict(self) -> dict:
        return {k: np.asarray(v).tolist() for k, v in vars(self).items()}


def unit_errors(errors: ImuErrors, seed: int) -> UnitErrors:
    """Draw a unit's scale, cross-axis and tempco errors, each uniform within the datasheet's
    +- bound (a stream of its own: the same seed, the same unit)."""
    rng = np.random.default_rng([seed, 0x1A1])

    def matrix() -> np.ndarray:  # [3, 3]
        scale = rng.uniform(-1.0, 1.0, 3) * errors.scale_error_pct / 100.0
        cross = rng.uniform(-1.0, 1.0, (3, 3)) * errors.cross_axis_pct / 100.0
        np.fill_diagonal(cross, 0.0)
        return np.eye(3) + np.diag(scale) + cross

    gyro_m, accel_m = matrix(), matrix()
    gyro_tc = rng.uniform(-1.0, 1.0, 3) * errors.gyro_tempco_mdps_per_degc * 1e-3 * _DEG
    accel_tc = rng.uniform(-1.0, 1.0, 3) * errors.accel_tempco_mg_per_degc * _MG
    return UnitErrors(
        gyro_m, accel_m, gyro_tc, accel_tc, errors.warmup_rise_degc, errors.warmup_tau_s
    )


def _bias(
    rng: np.random.Generator, n: int, turn_on: float, rw: float, rate_hz: float
) -> np.ndarray:  # [n, 3]
    """Turn-on bias, then a random walk with step std rw * sqrt(1 / rate_hz)."""
    turn_on_bias = rng.normal(0.0, turn_on, 3)
    steps = rng.normal(0.0, rw / np.sqrt(rate_hz), (n, 3))
    steps[:1] = 0.0
    return turn_on_bias + np.cumsum(steps, axis=0)


def to_g(accel_mps2: np.ndarray) -> np.ndarray:  # [..., 3] -> [..., 3]
    """Acceleration in g, the unit the Mid-360 reports its accelerometer in."""
    return np.asarray(accel_mps2, dtype=float) / GRAVITY_MPS2
