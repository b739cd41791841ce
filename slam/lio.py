"""LiDAR-inertial odometry: an iterated error-state Kalman filter, FAST-LIO2's recipe.

Per sweep: propagate the state with every IMU sample (mean and covariance on SO(3) x R^12),
deskew each point with the IMU pose at its own time, then iterate: match the points to planes of
the local voxel map and update the state, until it settles; add the sweep to the map.

The state is the IMU's pose and velocity in a gravity-aligned world, with gyro and accelerometer
biases. Error state, with R perturbed on the right (R Exp(dtheta)):
    [dtheta, dp, dv, dbg, dba]  (15)
With online extrinsic refinement (lio_refine_extrinsic) the lidar's pose on the IMU joins it,
also perturbed on the right, as FAST-LIO2 does:
    [..., dphi_il, dt_il]  (21)
The map, plane fits and residuals are the lidar odometry's (voxel_map.py, registration.py).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field, replace

import numba as nb
import numpy as np

from drivers.frames import ImuSample, LidarSweep
from slam.config import OdometryConfig
from slam.odometry import MIN_POINTS, OdometryStep, TooFewPointsError
from slam.preprocess import crop, voxel_downsample
from slam.se3 import so3_exp, so3_log
from slam.voxel_map import VoxelMap

log = logging.getLogger(__name__)

GRAVITY_MPS2 = 9.80665
G_WORLD = np.array([0.0, 0.0, -GRAVITY_MPS2])
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


@nb.njit(cache=True)
def _exp(w):
    theta = np.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
    K = np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])
    if theta < 1e-9:
        return np.eye(3) + K
    return np.eye(3) + np.sin(theta) / theta * K + (1 - np.cos(theta)) / theta**2 * (K @ K)


@nb.njit(cache=True)
def _integrate(R0, p0, v0, cov0, gyro, accel, dt, q, g):
    """Mean and covariance through K IMU steps.

    -> R, p, v [K+1], acceleration [K] (world), cov [15, 15], and the transition matrix over
    all the steps [15, 15] (to carry the covariance with states the IMU leaves alone).

    gyro and accel [K, 3] hold over each step (the mean of its two readings); the specific
    force is rotated into the world at the step's middle attitude."""
    K = len(dt)
    R = np.empty((K + 1, 3, 3))
    p = np.empty((K + 1, 3))
    v = np.empty((K + 1, 3))
    acc_world = np.empty((K, 3))
    R[0], p[0], v[0] = R0, p0, v0
    cov = cov0.copy()
    F = np.eye(15)
    Phi = np.eye(15)
    for k in range(K):
        h = dt[k]
        a_world = R[k] @ (_exp(gyro[k] * (0.5 * h)) @ accel[k]) + g
        acc_world[k] = a_world
        R[k + 1] = R[k] @ _exp(gyro[k] * h)
        p[k + 1] = p[k] + v[k] * h + 0.5 * a_world * h * h
        v[k + 1] = v[k] + a_world * h
        F[:] = np.eye(15)
        F[0:3, 0:3] = _exp(-gyro[k] * h)
        F[0:3, 9:12] = -np.eye(3) * h
        F[3:6, 6:9] = np.eye(3) * h
        a = accel[k]
        ax = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
        F[6:9, 0:3] = -(R[k] @ ax) * h
        F[6:9, 12:15] = -R[k] * h
        cov = F @ cov @ F.T
        Phi = F @ Phi
        for i in range(15):
            cov[i, i] += q[i] * h
    return R, p, v, acc_world, cov, Phi


@nb.njit(cache=True)
def _mv(M, x, y, z):
    return (
        M[0, 0] * x + M[0, 1] * y + M[0, 2] * z,
        M[1, 0] * x + M[1, 1] * y + M[1, 2] * z,
        M[2, 0] * x + M[2, 1] * y + M[2, 2] * z,
    )


@nb.njit(cache=True)
def _mtv(M, x, y, z):  # M^T (x, y, z)
    return (
        M[0, 0] * x + M[1, 0] * y + M[2, 0] * z,
        M[0, 1] * x + M[1, 1] * y + M[2, 1] * z,
        M[0, 2] * x + M[1, 2] * y + M[2, 2] * z,
    )


@nb.njit(cache=True, parallel=True)
def _deskew_kernel(points, dt_s, keep, t_steps_s, R, p, v, gyro, acc_world, R_il, t_il):
    """Each point through the IMU pose at its own time into the lidar frame at the last step.

    points [M, 3] lidar frame and dt_s [M] their times; keep [N] the points to take; t_steps_s
    [K+1] the IMU steps' times (seconds from the same origin as dt_s). With j the step a point
    falls in and tau its time into it:
    world = R_j Exp(w_j tau) q + p_j + v_j tau + a_j tau^2 / 2, q being the point in the IMU frame.
    Exp is its series to fourth order: |w tau| stays under 0.05 rad (10 rad/s over a 5 ms step),
    where that is exact to 1e-8, and it needs no trigonometry per point.
    """
    n = keep.shape[0]
    n_steps = gyro.shape[0]
    out = np.empty((n, 3))
    R_end, p_end = R[-1], p[-1]
    for i in nb.prange(n):
        src = keep[i]
        t_i = np.float64(dt_s[src])
        lo, hi = 0, n_steps - 1  # the last step starting at or before t_i (the first if none)
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if t_steps_s[mid] <= t_i:
                lo = mid
            else:
                hi = mid - 1
        j = lo
        t = t_i - t_steps_s[j]  # may be < 0 before the first step
        qx, qy, qz = _mv(R_il, points[src, 0], points[src, 1], points[src, 2])
        qx, qy, qz = qx + t_il[0], qy + t_il[1], qz + t_il[2]
        wx, wy, wz = gyro[j, 0] * t, gyro[j, 1] * t, gyro[j, 2] * t
        th2 = wx * wx + wy * wy + wz * wz
        if th2 < 2.5e-3:
            a = 1.0 - th2 / 6.0 + th2 * th2 / 120.0  # sin(th) / th
            b = 0.5 - th2 / 24.0 + th2 * th2 / 720.0  # (1 - cos(th)) / th^2
        else:
            th = np.sqrt(th2)
            a, b = np.sin(th) / th, (1.0 - np.cos(th)) / th2
        cx, cy, cz = wy * qz - wz * qy, wz * qx - wx * qz, wx * qy - wy * qx  # w x q
        ccx, ccy, ccz = wy * cz - wz * cy, wz * cx - wx * cz, wx * cy - wy * cx  # w x (w x q)
        qx, qy, qz = qx + a * cx + b * ccx, qy + a * cy + b * ccy, qz + a * cz + b * ccz
        wx_, wy_, wz_ = _mv(R[j], qx, qy, qz)
        h = 0.5 * t * t
        wx_ += p[j, 0] + v[j, 0] * t + acc_world[j, 0] * h - p_end[0]
        wy_ += p[j, 1] + v[j, 1] * t + acc_world[j, 1] * h - p_end[1]
        wz_ += p[j, 2] + v[j, 2] * t + acc_world[j, 2] * h - p_end[2]
        ex, ey, ez = _mtv(R_end, wx_, wy_, wz_)
        out[i, 0], out[i, 1], out[i, 2] = _mtv(R_il, ex - t_il[0], ey - t_il[1], ez - t_il[2])
    return out


@nb.njit(cache=True)
def _normal_equations(points, R_il, t_il, R, p, normal, offset, valid, gate_m, k2, w_meas, n_cols):
    """The point-to-plane rows at the state, weighted and summed.

    points [N, 3] lidar frame; normal [N, 3], offset [N], valid [N] their planes. With
    q = R_il x + t_il the point in the IMU frame, the residual is r = n . (R q + p) + d, and its
    row d r / d [dtheta, dp] = [q x (R^T n), n]; with n_cols = 12 also d r / d [dphi_il, dt_il]
    = [x x (R_il^T R^T n), R^T n]. Points with |r| >= gate_m are outliers; the rest get
    Geman-McClure weights w_meas (k2 / (k2 + r^2))^2.
    -> (H^T W H [n_cols, n_cols], H^T W r [n_cols], number of inliers)
    """
    HtH = np.zeros((n_cols, n_cols))
    Htr = np.zeros(n_cols)
    h = np.empty(12)
    n_in = 0
    for i in range(points.shape[0]):
        if not valid[i]:
            continue
        nx, ny, nz = normal[i, 0], normal[i, 1], normal[i, 2]
        xx, xy, xz = points[i, 0], points[i, 1], points[i, 2]
        qx, qy, qz = _mv(R_il, xx, xy, xz)
        qx, qy, qz = qx + t_il[0], qy + t_il[1], qz + t_il[2]
        px, py, pz = _mv(R, qx, qy, qz)
        r = nx * (px + p[0]) + ny * (py + p[1]) + nz * (pz + p[2]) + offset[i]
        if abs(r) >= gate_m:
            continue
        mx, my, mz = _mtv(R, nx, ny, nz)
        h[0], h[1], h[2] = qy * mz - qz * my, qz * mx - qx * mz, qx * my - qy * mx
        h[3], h[4], h[5] = nx, ny, nz
        if n_cols == 12:
            ex, ey, ez = _mtv(R_il, mx, my, mz)
            h[6], h[7], h[8] = xy * ez - xz * ey, xz * ex - xx * ez, xx * ey - xy * ex
            h[9], h[10], h[11] = mx, my, mz
        wgt = w_meas * (k2 / (k2 + r * r)) ** 2
        for a in range(n_cols):
            Htr[a] += wgt * h[a] * r
            for b in range(a, n_cols):
                HtH[a, b] += wgt * h[a] * h[b]
        n_in += 1
    for a in range(n_cols):
        for b in range(a):
            HtH[a, b] = HtH[b, a]
    return HtH, Htr, n_in


def _translation_degeneracy(H: np.ndarray, ratio: float) -> tuple[bool, np.ndarray]:  # [6, 6]
    """Is translation weakly constrained along one axis (a corridor)? -> (flag, axis).

    The lidar's information on translation, with rotation marginalised out (the Schur
    complement), is degenerate when its smallest eigenvalue is under `ratio` of its largest."""
    if not np.any(H):
        return True, np.zeros(3)
    try:
        S = H[3:, 3:] - H[3:, :3] @ np.linalg.solve(H[:3, :3], H[:3, 3:])
    except np.linalg.LinAlgError:
        return True, np.zeros(3)
    eig, vec = np.linalg.eigh(S)
    return bool(eig[0] < ratio * eig[-1]), vec[:, 0]


@dataclass
class LioState:
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
        parts = [
            so3_log(other.R.T @ self.R),
            self.p - other.p,
            self.v - other.v,
            self.bg - other.bg,
            self.ba - other.ba,
        ]
        if self.dim > N_STATE:
            parts += [so3_log(other.R_il.T @ self.R_il), self.t_il - other.t_il]
        return np.concatenate(parts)

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


class LidarInertialOdometry:
    """The filter as a plain object: feed IMU samples and sweeps in time order, no threads."""

    def __init__(
        self, config: OdometryConfig, T_lidar_imu: np.ndarray, full_scan: bool = False
    ) -> None:  # T_lidar_imu [4, 4]
        self.config = cfg = config
        self.full_scan = full_scan  # also return every deskewed point (OdometryStep.scan_world)
        T_imu_lidar = np.linalg.inv(T_lidar_imu)
        # the calibration; the state carries its own copy, refined when lio_refine_extrinsic
        self._R_il0, self._t_il0 = T_imu_lidar[:3, :3].copy(), T_imu_lidar[:3, 3].copy()
        self.map = VoxelMap(cfg.map_voxel_m, cfg.max_points_per_voxel, cfg.map_point_spacing_m)
        self.state: LioState | None = None
        self.t_ns: int | None = None  # time of self.state
        self.accel_scale = 1.0  # accelerometer reading per m/s^2, found at initialisation
        self.imu: deque[ImuSample] = deque()
        self.last_imu: ImuSample | None = None
        self.imu_ok = True
        self.n_sweeps_without_imu = 0
        self._w_last = np.zeros(3)  # angular rate to carry on with when the IMU falls silent
        self._q_diag = np.r_[
            [cfg.imu_gyro_noise**2] * 3,
            [0.0] * 3,
            [cfg.imu_accel_noise**2] * 3,
            [cfg.imu_gyro_bias_rw**2] * 3,
            [cfg.imu_accel_bias_rw**2] * 3,
        ]
        self.degenerate = False  # the last update left a direction of translation to the IMU
        self.degenerate_axis = np.zeros(3)  # that direction, world frame

    # --- inputs -----------------------------------------------------------------------------
    def add_imu(self, sample: ImuSample) -> None:
        if self.imu and sample.t_ns <= self.imu[-1].t_ns:
            return  # out of order or repeated
        self.imu.append(sample)

    def process(self, sweep: LidarSweep) -> OdometryStep | None:
        """One sweep; None while the filter is still initialising."""
        cfg = self.config
        keep = crop(sweep.xyz_m, cfg.min_range_m, cfg.max_range_m)
        if len(keep) < MIN_POINTS:
            raise TooFewPointsError(f"sweep {sweep.index}: {len(keep)} usable points")
        dt = sweep.point_dt_s if sweep.point_dt_s is not None else np.zeros(len(sweep), np.float32)
        t_end_ns = sweep.end_ns  # the filter's state is at the sweep's end
        if self.state is None and not self._initialise(t_end_ns):
            return None
        trace = self._propagate(t_end_ns)  # IMU poses across the sweep
        points = self._deskew(sweep.xyz_m, dt, keep, sweep.t_ns, trace)
        frame = points[voxel_downsample(points, cfg.map_point_spacing_m)]
        source = frame[voxel_downsample(frame, cfg.refine_source_voxel_m)]
        if len(source) > cfg.lio_max_points:  # an even subset: the IMU prior needs no more
            source = source[np.linspace(0, len(source) - 1, cfg.lio_max_points).astype(int)]
        inliers, info = self._update(source) if len(self.map) else (1.0, np.zeros((6, 6)))
        T_world_lidar = self.T_world_lidar
        points_world = frame @ T_world_lidar[:3, :3].T + T_world_lidar[:3, 3]
        self.map.add(points_world)
        self.map.remove_far(T_world_lidar[:3, 3], cfg.local_map_radius_m)
        scan = (None, None)
        if self.full_scan:
            scan = (points @ T_world_lidar[:3, :3].T + T_world_lidar[:3, 3], keep)
        # the step reports the pose at the sweep's middle, as the lidar-only odometry does: the
        # IMU's path across the sweep, hung on the updated state at its end
        T_mid = T_world_lidar @ self._motion_since(trace, sweep.mid_ns)
        return OdometryStep(sweep.mid_ns, T_mid, points_world, inliers, info, False, *scan)

    def _motion_since(self, tr: Trace, t_ns: int) -> np.ndarray:
        """[4, 4] the lidar at t_ns in the lidar frame at the trace's end (T_end^-1 T_t)."""
        k = int(np.clip(np.searchsorted(tr.t_ns, t_ns, side="right") - 1, 0, len(tr.gyro) - 1))
        tau = (t_ns - tr.t_ns[k]) * 1e-9
        R_t = tr.R[k] @ so3_exp(tr.gyro[k] * tau)  # the IMU at t_ns, as propagated
        p_t = tr.p[k] + tr.v[k] * tau + 0.5 * tr.acc_world[k] * tau * tau
        T_imu = np.eye(4)  # the IMU at t_ns in the IMU frame at the end
        T_imu[:3, :3] = tr.R[-1].T @ R_t
        T_imu[:3, 3] = tr.R[-1].T @ (p_t - tr.p[-1])
        T_il = np.eye(4)  # the lidar in the IMU frame
        T_il[:3, :3], T_il[:3, 3] = self.R_il, self.t_il
        return np.linalg.inv(T_il) @ T_imu @ T_il

    @property
    def R_il(self) -> np.ndarray:  # [3, 3] R_imu_lidar
        return self.state.R_il if self.state is not None else self._R_il0

    @property
    def t_il(self) -> np.ndarray:  # [3] the lidar's origin in the IMU frame
        return self.state.t_il if self.state is not None else self._t_il0

    @property
    def T_lidar_imu(self) -> np.ndarray:  # [4, 4] the extrinsic in use (refined, if it is)
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = self.R_il.T, -self.R_il.T @ self.t_il
        return T

    @property
    def T_world_lidar(self) -> np.ndarray:
        s = self.state
        T = np.eye(4)
        T[:3, :3] = s.R @ self.R_il
        T[:3, 3] = s.R @ self.t_il + s.p
        return T

    # --- initialisation ---------------------------------------------------------------------
    def _initialise(self, t_ns: int) -> bool:
        """Gravity, gyro bias and accelerometer scale from the IMU before t_ns.

        Standing still (the usual start) gives all three; from a moving start the mean specific
        force still gives gravity's direction, and the lidar updates take it from there."""
        cfg = self.config
        window = [s for s in self.imu if s.t_ns <= t_ns]
        if not window:
            if self.imu:
                return False
            log.warning("no IMU: the filter runs on a constant-velocity model")
            window = [ImuSample(t_ns, np.zeros(3), np.array([0.0, 0.0, GRAVITY_MPS2]))]
        span_s = (window[-1].t_ns - window[0].t_ns) * 1e-9
        if self.imu and span_s < cfg.init_window_s:
            return False  # wait for a full window of IMU
        gyro = np.array([s.gyro_radps for s in window])
        accel = np.array([s.accel_mps2 for s in window])
        still = gyro.std(axis=0).max() < 0.05 and np.linalg.norm(accel.std(axis=0)) < 0.3
        f_mean = accel.mean(axis=0)
        self.accel_scale = np.linalg.norm(f_mean) / GRAVITY_MPS2 if still else 1.0
        up = f_mean / np.linalg.norm(f_mean)  # specific force at rest points up
        axis = np.cross(up, [0.0, 0.0, 1.0])
        angle = np.arccos(np.clip(up[2], -1.0, 1.0))
        R0 = so3_exp(axis / max(np.linalg.norm(axis), 1e-12) * angle)  # R0 @ up = z
        cov = np.diag(
            np.r_[
                [1e-4] * 3,
                [1e-6] * 3,
                [1e-4 if still else 1.0] * 3,
                [1e-6 if still else 1e-4] * 3,
                # the accelerometer bias cannot be told from a tilt at rest, and MEMS turn-on
                # biases reach tens of mg: a wide prior lets the motion separate the two
                [0.1] * 3,
            ]
        )
        if cfg.lio_refine_extrinsic:
            sd_rad = np.radians(cfg.lio_extrinsic_sigma_deg)
            cov = np.diag(np.r_[np.diag(cov), [sd_rad**2] * 3, [cfg.lio_extrinsic_sigma_m**2] * 3])
        self.state = LioState(
            R0,
            np.zeros(3),
            np.zeros(3),
            gyro.mean(axis=0) if still else np.zeros(3),
            np.zeros(3),
            cov,
            self._R_il0.copy(),
            self._t_il0.copy(),
        )
        self.t_ns = window[-1].t_ns
        self.last_imu = window[-1]
        while self.imu and self.imu[0].t_ns <= self.t_ns:
            self.imu.popleft()
        log.info(
            "LIO initialised (%s start): gyro bias %s rad/s, accelerometer scale %.4f",
            "static" if still else "moving",
            np.round(self.state.bg, 4),
            self.accel_scale,
        )
        return True

    # --- propagation ------------------------------------------------------------------------
    def _propagate(self, t_end_ns: int) -> Trace:
        """Integrate the IMU up to t_end_ns; returns the poses along the way, for the deskew."""
        cfg = self.config
        samples = []
        while self.imu and self.imu[0].t_ns <= t_end_ns:
            samples.append(self.imu.popleft())
        last_t = samples[-1].t_ns if samples else (self.last_imu.t_ns if self.last_imu else None)
        self.imu_ok = last_t is not None and (t_end_ns - last_t) * 1e-9 <= cfg.imu_gap_s
        if not self.imu_ok:
            self.n_sweeps_without_imu += 1
            if self.n_sweeps_without_imu == 1:
                log.warning("IMU silent: propagating on constant velocity until it returns")
        else:
            self.n_sweeps_without_imu = 0
        s = self.state
        # each step uses the mean of the readings at its two ends (midpoint integration)
        holds = [self.last_imu, *samples] if self.last_imu is not None else [*samples]
        t_steps = np.array([self.t_ns] + [x.t_ns for x in samples] + [t_end_ns], dtype=np.int64)
        if self.imu_ok and len(holds) >= len(t_steps) - 1:
            holds = holds[-(len(t_steps) - 1) :]
            ends = [*samples, holds[-1]][-(len(t_steps) - 1) :]  # the reading at each step's end
            pairs = list(zip(holds, ends, strict=True))
            gyro = 0.5 * np.array([a.gyro_radps + b.gyro_radps for a, b in pairs])
            accel = 0.5 * np.array([a.accel_mps2 + b.accel_mps2 for a, b in pairs])
            gyro, accel = gyro - s.bg, accel / self.accel_scale - s.ba
            self._w_last = gyro[-1]
        else:  # no IMU: keep turning as before and keep the velocity, with a wide covariance
            gyro = np.tile(self._w_last, (len(t_steps) - 1, 1))
            accel = np.tile(s.R.T @ -G_WORLD, (len(t_steps) - 1, 1))
        q = self._q_diag.copy()
        if not self.imu_ok:
            q[TH] += 1.0
            q[V] += 10.0
        dt_s = np.diff(t_steps) * 1e-9
        cov = s.cov.copy()
        R, p, v, acc_world, cov[:15, :15], Phi = _integrate(
            s.R, s.p, s.v, s.cov[:15, :15].copy(), gyro, accel, dt_s, q, G_WORLD
        )
        if s.dim > N_STATE:  # the IMU leaves the extrinsic alone; its correlations move on
            cov[:15, 15:] = Phi @ s.cov[:15, 15:]
            cov[15:, :15] = cov[:15, 15:].T
        self.state = replace(s, R=R[-1], p=p[-1], v=v[-1], cov=cov)
        self.t_ns = int(t_end_ns)
        if samples:
            self.last_imu = samples[-1]
        return Trace(t_steps, R, p, v, gyro, acc_world)

    # --- deskew -----------------------------------------------------------------------------
    def _deskew(
        self,
        points: np.ndarray,  # [M, 3] lidar frame, each at its own time
        dt_s: np.ndarray,  # [M] seconds after t0_ns
        keep: np.ndarray,  # [N] the points to take
        t0_ns: int,
        tr: Trace,
    ) -> np.ndarray:  # -> [N, 3] the lidar frame at the sweep's end
        return _deskew_kernel(
            np.ascontiguousarray(points),
            np.ascontiguousarray(dt_s),
            np.ascontiguousarray(keep, dtype=np.int64),
            (tr.t_ns - t0_ns) * 1e-9,
            tr.R,
            tr.p,
            tr.v,
            tr.gyro,
            tr.acc_world,
            self.R_il,
            self.t_il,
        )

    # --- update -----------------------------------------------------------------------------
    def _update(self, source: np.ndarray) -> tuple[float, np.ndarray]:  # [N, 3] lidar frame
        """Iterated EKF update with point-to-plane residuals -> (inlier share, information).

        Planes are searched at the current state, then Gauss-Newton steps run against them until
        the state settles; the search is repeated while those steps moved the state more than
        lio_replan_tolerance (m and rad) from where the planes were found. With the IMU's
        prediction one search is usually enough (FAST-LIO2 likewise keeps its matches while
        the state is still moving)."""
        cfg = self.config
        prior = self.state
        x = prior.copy()
        source = np.ascontiguousarray(source, dtype=np.float64)
        w_meas = 1.0 / cfg.lidar_noise_m**2
        # a wide robust kernel: in a corridor the few points that fix the position along it
        # (door frames, the far end) sit well off their planes once the IMU has drifted, and
        # a tight one throws out exactly those, so the estimate slides with the walls
        gate_m = 3.0 * cfg.lio_residual_scale_m
        k2 = (cfg.lio_residual_scale_m / 3.0) ** 2
        # the state entries the lidar sees: pose, and the extrinsic when it is refined
        cols = np.r_[0:6, 15:21] if prior.dim > N_STATE else np.arange(6)
        lidar = np.ix_(cols, cols)
        P_inv = np.linalg.inv(prior.cov)
        H_info = np.zeros((len(cols), len(cols)))
        n_in = 0
        for _ in range(cfg.lio_max_iterations):
            planes = self.map.fit_planes(
                source @ (x.R @ x.R_il).T + (x.R @ x.t_il + x.p),
                cfg.lio_plane_neighbors,
                cfg.max_neighbor_distance_m,
                cfg.plane_tolerance_m,
            )
            x_searched = x
            for _ in range(cfg.lio_steps_per_search):
                H_info, g, n_in = _normal_equations(
                    source,
                    x.R_il,
                    x.t_il,
                    x.R,
                    x.p,
                    planes.normal,
                    planes.offset,
                    planes.valid,
                    gate_m,
                    k2,
                    w_meas,
                    len(cols),
                )
                if n_in < 6:
                    break
                A = P_inv.copy()
                A[lidar] += H_info
                b = -P_inv @ x.boxminus(prior)
                b[cols] -= g
                delta = np.linalg.solve(A, b)
                x = x.boxplus(delta)
                if np.linalg.norm(delta[:6]) < cfg.convergence_eps:
                    break
            moved = np.linalg.norm(x.boxminus(x_searched)[:6])
            if n_in < 6 or moved < cfg.lio_replan_tolerance:
                break
        A = P_inv.copy()
        A[lidar] += H_info
        x.cov = np.linalg.inv(A)
        x.cov = 0.5 * (x.cov + x.cov.T)
        self.state = x
        info = H_info[:6, :6]  # on the pose
        self.degenerate, self.degenerate_axis = _translation_degeneracy(info, cfg.degeneracy_ratio)
        return n_in / max(len(source), 1), info
