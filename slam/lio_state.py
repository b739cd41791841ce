"""The LiDAR-inertial filter's data: its state on the manifold and the IMU's path across a sweep.

The state is the IMU's pose and velocity in a gravity-aligned world, with gyro and accelerometer
biases. Error state, with R perturbed on the right (R Exp(dtheta)):
    [dtheta, dp, dv, dbg, dba]  (15)
With online extrinsic refinement (lio_refine_extrinsic) the lidar's pose on the IMU joins it,
also perturbed on the right, as FAST-LIO2 does:
    [..., dphi_il, dt_il]  (21)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from slam.lio_kernels import _boxminus
from slam.se3 import so3_exp

N_STATE = 15
TH, P, V, BG, BA, PHI_IL, T_IL = (slice(i, i + 3) for i in range(0, 21, 3))


@dataclass(frozen=True)
class Trace:
    """The IMU's path across one sweep: the state at each IMU step and the motion over it."""

    t_ns: np.ndarray  # [K+1] step times, the last is the sweep's end
    R: np.ndarray  # [K+1, 3, 3]
    p: np.ndarray  # [K+1, 3]
    v: np.ndarray  # [K+1, 3]
    gyro: np.ndarray  # [K, 3] bias-corrected rate over each step
    acc_world: np.ndarray  # [K, 3] acceleration over each step, world


@dataclass
class LioState:
    """The filter's estimate at one time; cov is its error state's covariance."""

    R: np.ndarray  # [3, 3] R_world_imu
    p: np.ndarray  # [3] imu position, world
    v: np.ndarray  # [3] m/s, world
    bg: np.ndarray  # [3] rad/s
    ba: np.ndarray  # [3] m/s^2
    cov: np.ndarray  # [15, 15], or [21, 21] with the extrinsic
    R_il: np.ndarray = field(default_factory=lambda: np.eye(3))  # [3, 3] R_imu_lidar
    t_il: np.ndarray = field(default_factory=lambda: np.zeros(3))  # [3] lidar origin, IMU frame

    @property
    def dim(self) -> int:
        return len(self.cov)

    def boxplus(self, dx: np.ndarray) -> LioState:  # [15] or [21]
        ext = len(dx) > N_STATE
        return LioState(
            self.R @ so3_exp(dx[TH]),
            self.p + dx[P],
            self.v + dx[V],
            self.bg + dx[BG],
            self.ba + dx[BA],
            self.cov,
            self.R_il @ so3_exp(dx[PHI_IL]) if ext else self.R_il,
            self.t_il + dx[T_IL] if ext else self.t_il,
        )

    def boxminus(self, other: LioState) -> np.ndarray:  # -> [dim]
        """self [-] other: [log(R_o^T R), p - p_o, v - v_o, bg - bg_o, ba - ba_o, (log(R_il_o^T
        R_il), t_il - t_il_o)], the same function the filter's numba update uses."""
        return _boxminus(self.R, self.R_il, self.vector(), other.R, other.R_il, other.vector())

    def vector(self) -> np.ndarray:  # -> [dim] p, v, bg, ba (and t_il) in their error slots
        vec = np.zeros(self.dim)
        vec[P], vec[V], vec[BG], vec[BA] = self.p, self.v, self.bg, self.ba
        if self.dim > N_STATE:
            vec[T_IL] = self.t_il
        return vec

    def with_vector(self, R: np.ndarray, R_il: np.ndarray, vec: np.ndarray) -> LioState:
        """This state moved to R [3, 3], R_il [3, 3] and the entries of vec [dim] (vector())."""
        ext = self.dim > N_STATE
        return LioState(
            R,
            vec[P].copy(),
            vec[V].copy(),
            vec[BG].copy(),
            vec[BA].copy(),
            self.cov,
            R_il,
            vec[T_IL].copy() if ext else self.t_il,
        )

    def copy(self) -> LioState:
        return LioState(
            self.R.copy(),
            self.p.copy(),
            self.v.copy(),
            self.bg.copy(),
            self.ba.copy(),
            self.cov.copy(),
            self.R_il.copy(),
            self.t_il.copy(),
        )
