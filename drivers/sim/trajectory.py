"""The ground-truth trajectory type: a quintic B-spline of position and yaw/pitch/roll.

A trajectory is one quintic B-spline (C4) through six channels: the body position in the world
and the body's yaw/pitch/roll (R_world_body = Rz(yaw) Ry(pitch) Rx(roll)). The body frame is
the lidar frame (x forward, y left, z up); the world is z up, in metres. Every derivative
(velocity, acceleration, angular rate and acceleration) is the analytic derivative of what
pose() returns.

Why not scipy's RotationSpline: its angular rate is the body-frame rate (R^T dR/dt, checked by
finite differences), but it is a global interpolant, so the motion after the still start leaks
into it (~1e-8 rad/s just before 2 s) and its angular acceleration is only continuous. The
B-spline has local support: control points that are equal give exactly zero rates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import BSpline

DEGREE = 5  # quintic: C4, so jerk is continuous too


def rotation_zyx(ypr_rad: np.ndarray) -> np.ndarray:  # [N, 3] -> [N, 3, 3]
    """R = Rz(yaw) Ry(pitch) Rx(roll)."""
    cy, sy = np.cos(ypr_rad[:, 0]), np.sin(ypr_rad[:, 0])
    cp, sp = np.cos(ypr_rad[:, 1]), np.sin(ypr_rad[:, 1])
    cr, sr = np.cos(ypr_rad[:, 2]), np.sin(ypr_rad[:, 2])
    R = np.empty((len(ypr_rad), 3, 3))
    R[:, 0, 0] = cy * cp
    R[:, 0, 1] = cy * sp * sr - sy * cr
    R[:, 0, 2] = cy * sp * cr + sy * sr
    R[:, 1, 0] = sy * cp
    R[:, 1, 1] = sy * sp * sr + cy * cr
    R[:, 1, 2] = sy * sp * cr - cy * sr
    R[:, 2, 0] = -sp
    R[:, 2, 1] = cp * sr
    R[:, 2, 2] = cp * cr
    return R


def omega_body_zyx(
    ypr_rad: np.ndarray,  # [N, 3]
    ypr_rate: np.ndarray,  # [N, 3]
) -> np.ndarray:  # [N, 3]
    """Body-frame angular velocity (R^T dR/dt) of R = Rz(yaw) Ry(pitch) Rx(roll)."""
    dy, dp, dr = ypr_rate.T
    cp, sp = np.cos(ypr_rad[:, 1]), np.sin(ypr_rad[:, 1])
    cr, sr = np.cos(ypr_rad[:, 2]), np.sin(ypr_rad[:, 2])
    return np.stack([dr - dy * sp, dp * cr + dy * cp * sr, -dp * sr + dy * cp * cr], axis=1)


def alpha_body_zyx(
    ypr_rad: np.ndarray,  # [N, 3]
    ypr_rate: np.ndarray,  # [N, 3]
    ypr_acc: np.ndarray,  # [N, 3]
) -> np.ndarray:  # [N, 3]
    """Time derivative of omega_body_zyx (the body-frame angular acceleration)."""
    dy, dp, dr = ypr_rate.T
    ay, ap, ar = ypr_acc.T
    cp, sp = np.cos(ypr_rad[:, 1]), np.sin(ypr_rad[:, 1])
    cr, sr = np.cos(ypr_rad[:, 2]), np.sin(ypr_rad[:, 2])
    ax = ar - ay * sp - dy * cp * dp
    ay_ = ap * cr - dp * sr * dr + ay * cp * sr - dy * sp * dp * sr + dy * cp * cr * dr
    az = -ap * sr - dp * cr * dr + ay * cp * cr - dy * sp * dp * cr - dy * cp * sr * dr
    return np.stack([ax, ay_, az], axis=1)


@dataclass(frozen=True, eq=False)
class Trajectory:
    """Ground-truth motion of the body (lidar) frame; valid on [0, duration_s]."""

    duration_s: float
    knots_s: np.ndarray  # [M + DEGREE + 1] B-spline knots, seconds
    control: np.ndarray  # [M, 6] x y z (m, world), yaw pitch roll (rad, R = Rz Ry Rx)
    profile: str = "static"
    moving_s: tuple[float, float] | None = None  # when the body may move (outside: still)
    cruise_s: tuple[float, float] | None = None  # full walking speed between the ramps
    turn_s: tuple[float, float] | None = None  # the full 360-degree turn, if any
    n_loops: int = 0  # whole loops of the walk path; 0: it does not get back to the start
    _splines: tuple[BSpline, BSpline, BSpline] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.control.ndim != 2 or self.control.shape[1] != 6:
            raise ValueError(f"control must be [M, 6], got {self.control.shape}")
        if len(self.knots_s) != len(self.control) + DEGREE + 1:
            raise ValueError("knots_s must have len(control) + DEGREE + 1 entries")
        spline = BSpline(self.knots_s, self.control, DEGREE, extrapolate=False)
        object.__setattr__(self, "_splines", (spline, spline.derivative(1), spline.derivative(2)))

    @property
    def valid_s(self) -> tuple[float, float]:
        """The times the spline is defined at (a margin around [0, duration_s])."""
        return float(self.knots_s[DEGREE]), float(self.knots_s[len(self.control)])

    def _eval(self, t_s: np.ndarray, nu: int) -> np.ndarray:  # [N] -> [N, 6]
        t = np.atleast_1d(np.asarray(t_s, dtype=float))
        if t.ndim != 1:
            raise ValueError(f"t_s must be [N], got {t.shape}")
        lo, hi = self.valid_s
        if len(t) and (t.min() < lo or t.max() > hi):
            raise ValueError(f"t_s outside the trajectory's [{lo:.3f}, {hi:.3f}] s")
        return self._splines[nu](t)

    def position(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3] p_world_body, m
        return self._eval(t_s, 0)[:, :3]

    def velocity_world(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3] m/s
        return self._eval(t_s, 1)[:, :3]

    def accel_world(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3] m/s^2 (no gravity)
        return self._eval(t_s, 2)[:, :3]

    def rotation(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3, 3] R_world_body
        return rotation_zyx(self._eval(t_s, 0)[:, 3:])

    def angular_velocity_body(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3] rad/s
        return omega_body_zyx(self._eval(t_s, 0)[:, 3:], self._eval(t_s, 1)[:, 3:])

    def angular_accel_body(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 3] rad/s^2
        return alpha_body_zyx(
            self._eval(t_s, 0)[:, 3:], self._eval(t_s, 1)[:, 3:], self._eval(t_s, 2)[:, 3:]
        )

    def pose(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 4, 4] T_world_body
        c = self._eval(t_s, 0)
        T = np.zeros((len(c), 4, 4))
        T[:, :3, :3] = rotation_zyx(c[:, 3:])
        T[:, :3, 3] = c[:, :3]
        T[:, 3, 3] = 1.0
        return T
