"""LiDAR-inertial odometry: an iterated error-state Kalman filter, FAST-LIO2's recipe.

Per sweep: propagate the state with every IMU sample (mean and covariance on SO(3) x R^12),
deskew each point with the IMU pose at its own time, then iterate: match the points to planes of
the local voxel map and update the state, until it settles; add the sweep to the map.

The state and its error-state layout are in lio_state.py, the numba loops in lio_kernels.py.
The map, plane fits and residuals are the lidar odometry's (voxel_map.py, registration.py).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import replace

import numpy as np

from drivers.frames import ImuSample, LidarSweep
from slam.config import OdometryConfig
from slam.lio_kernels import (
    _deskew_kernel,
    _gauss_newton,
    _integrate,
    weakest_translation,
)
from slam.lio_state import N_STATE, TH, LioState, P, Trace, V
from slam.odometry import MIN_POINTS, OdometryStep, TooFewPointsError
from slam.preprocess import crop, voxel_downsample
from slam.se3 import rot_z, so3_exp
from slam.voxel_map import Neighbours, VoxelMap

log = logging.getLogger(__name__)

GRAVITY_MPS2 = 9.80665
G_WORLD = np.array([0.0, 0.0, -GRAVITY_MPS2])
NEIGHBOUR_MARGIN_M = 0.06  # a re-search scans the kept neighbours of points moved under half


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
        self.weak = False  # the last update held that direction weakly (lio_pace_share)
        self.share = 1.0  # the last update's information on that direction, over its strongest
        self._v_walk: np.ndarray | None = None  # [3] mean velocity over the last strides, world
        self._v_walk_s = 0.0  # how long that mean has had well-observed sweeps to average
        self._kept: Neighbours | None = None  # the update's search buffers, kept for the next

    # --- inputs -----------------------------------------------------------------------------
    def add_imu(self, sample: ImuSample) -> None:
        if self.imu and sample.t_ns <= self.imu[-1].t_ns:
            return  # out of order or repeated
        self.imu.append(sample)

    def process(self, sweep: LidarSweep) -> OdometryStep | None:
        """One sweep; None while the filter is still initialising.

        Propagate the state to the sweep's end, deskew the sweep into the lidar frame there,
        update the state against the map, add the sweep to the map."""
        cfg = self.config
        keep = crop(sweep.xyz_m, cfg.min_range_m, cfg.max_range_m)
        if len(keep) < MIN_POINTS:
            raise TooFewPointsError(f"sweep {sweep.index}: {len(keep)} usable points")
        t_end_ns = sweep.end_ns  # the filter's state is at the sweep's end
        if self.state is None and not self._initialise(t_end_ns):
            return None
        dt_s = (t_end_ns - self.t_ns) * 1e-9  # since the last sweep
        trace = self._propagate(t_end_ns)  # IMU poses across the sweep
        points_lidar = self._deskew(sweep.xyz_m, _point_dt_s(sweep), keep, sweep.t_ns, trace)
        frame_lidar, source_lidar = self._downsample(points_lidar)
        inliers, info = self._update(source_lidar) if len(self.map) else (1.0, np.zeros((6, 6)))
        self._hold_walking_velocity(dt_s)
        T_world_lidar = self.T_world_lidar
        points_world = self._add_to_map(frame_lidar, T_world_lidar)
        scan = (_transform(points_lidar, T_world_lidar), keep) if self.full_scan else (None, None)
        # the step reports the pose at the sweep's middle, as the lidar-only odometry does: the
        # IMU's path across the sweep, hung on the updated state at its end
        T_mid = T_world_lidar @ self._motion_since(trace, sweep.mid_ns)
        axis = self.degenerate_axis if self.degenerate and np.any(self.degenerate_axis) else None
        return OdometryStep(
            sweep.mid_ns, T_mid, points_world, inliers, info, False, *scan, degenerate_axis=axis
        )

    def _downsample(self, points_lidar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # [N, 3]
        """The deskewed sweep -> (frame at map spacing [F, 3], update source [S, 3])."""
        cfg = self.config
        frame = points_lidar[voxel_downsample(points_lidar, cfg.map_point_spacing_m)]
        source = frame[voxel_downsample(frame, cfg.refine_source_voxel_m)]
        if len(source) > cfg.lio_max_points:  # an even subset: the IMU prior needs no more
            source = source[np.linspace(0, len(source) - 1, cfg.lio_max_points).astype(int)]
        return frame, source

    def _add_to_map(self, frame_lidar: np.ndarray, T_world_lidar: np.ndarray) -> np.ndarray:
        """frame_lidar [F, 3], T_world_lidar [4, 4] -> the frame in the world [F, 3]; the map
        takes it and drops what is now out of its radius."""
        points_world = _transform(frame_lidar, T_world_lidar)
        self.map.add(points_world)
        self.map.remove_far(T_world_lidar[:3, 3], self.config.local_map_radius_m)
        return points_world

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
        the state settles; the search is repeated while those steps moved the points more than
        lio_replan_tolerance from where the planes were found, a turn counted at the points'
        median range (a gyro's cross-axis error in a fast turn tilts the prior by tenths of a
        degree, which moves points 20 m away by decimetres). With the IMU's prediction one
        search is usually enough (FAST-LIO2 likewise keeps its matches while the state is still
        moving)."""
        cfg = self.config
        prior = self.state
        x = prior.copy()
        source = np.ascontiguousarray(source, dtype=np.float64)
        # the Mid-360's range noise grows with range (and falls with reflectivity), and its
        # 0.1 degree angular noise moves far points sideways: far points' planes, fitted to
        # points as noisy, are taken at a wider tolerance, and their residuals at a wider kernel
        range_m = np.linalg.norm(source, axis=1)  # [N]
        w_meas = 1.0 / cfg.lidar_noise_m**2
        plane_tol = cfg.lio_plane_tolerance_m + cfg.lio_plane_tolerance_per_m * range_m
        # a wide robust kernel: in a corridor the few points that fix the position along it
        # (door frames, the far end) sit well off their planes once the IMU has drifted, and
        # a tight one throws out exactly those, so the estimate slides with the walls
        scale_m = cfg.lio_residual_scale_m + cfg.lio_residual_scale_per_m * range_m  # [N]
        gate_m = 3.0 * scale_m
        k2 = (scale_m / 3.0) ** 2
        # the state entries the lidar sees: pose, and the extrinsic when it is refined
        cols = np.r_[0:6, 15:21] if prior.dim > N_STATE else np.arange(6)
        lidar = np.ix_(cols, cols)
        P_inv = np.linalg.inv(prior.cov)
        # how far a turn of the state moves the points: at their median range
        reach_m = float(np.median(range_m))
        H_info = np.zeros((len(cols), len(cols)))
        n_in = 0
        R0, R_il0, vec0 = prior.R, prior.R_il, prior.vector()
        # each search keeps the map points around each point, so that the next one, after the
        # state has moved a few centimetres, looks only at those (and finds the same planes)
        if self._kept is None or len(self._kept.n) < len(source):
            self._kept = Neighbours.empty(max(len(source), cfg.lio_max_points), NEIGHBOUR_MARGIN_M)
        kept = self._kept.first(len(source))
        for _ in range(cfg.lio_max_iterations):
            planes = self.map.fit_planes(
                source @ (x.R @ x.R_il).T + (x.R @ x.t_il + x.p),
                cfg.lio_plane_neighbors,
                cfg.max_neighbor_distance_m,
                plane_tol,
                kept,
            )
            x_searched = x
            R, R_il, vec, H_info, n_in = _gauss_newton(
                source,
                x.R,
                x.R_il,
                x.t_il,
                x.vector(),
                R0,
                R_il0,
                vec0,
                P_inv,
                planes.normal,
                planes.offset,
                planes.valid,
                gate_m,
                k2,
                w_meas,
                cfg.lio_steps_per_search,
                cfg.convergence_eps,
            )
            x = x.with_vector(R, R_il, vec)
            step = x.boxminus(x_searched)
            moved = np.linalg.norm(step[P]) + reach_m * np.linalg.norm(step[TH])
            if n_in < 6 or moved < cfg.lio_replan_tolerance:
                break
        A = P_inv.copy()
        A[lidar] += H_info
        x.cov = np.linalg.inv(A)
        x.cov = 0.5 * (x.cov + x.cov.T)
        self.state = x
        info = H_info[:6, :6]  # on the pose
        self._judge_geometry(info)
        return n_in / max(len(source), 1), info

    def _judge_geometry(self, info: np.ndarray) -> None:  # [6, 6] the lidar's, on the pose
        """How well the update held translation: degenerate (a tunnel: degeneracy_ratio) or
        weak (a street between long walls: lio_pace_share) along its weakest direction."""
        cfg = self.config
        share, self.degenerate_axis = weakest_translation(info)
        self.share = share
        self.degenerate = share < cfg.degeneracy_ratio
        self.weak = share < _pace_hold_share(cfg)

    def _hold_walking_velocity(self, dt_s: float) -> None:
        """Along a direction the lidar cannot see (a featureless tunnel) or sees weakly (a
        street between long walls: lio_pace_share), keep the pace.

        There the position comes from the accelerometer alone, and a bias error of a few mg,
        which no MEMS unit avoids, runs it away quadratically: metres within a minute. People
        walk at a steady pace, so the filter takes the mean velocity of the last strides, held
        from before the geometry degenerated, as a measurement of the velocity along that
        direction (rko_lio and kiss-icp keep a constant velocity in the same place). The pace
        is kept relative to the scanner's heading, so it turns when the operator does. Its
        correlations carry the correction to the accelerometer bias."""
        cfg = self.config
        s = self.state
        yaw = _yaw(s.R)
        if not self.weak or self._v_walk is None:
            # learnt in full from sweeps that see the walk well (lio_pace_learn_share), less
            # the more weakly they see it: there the velocity is the accelerometer's
            hold = _pace_hold_share(cfg)
            trust = float(
                np.clip((self.share - hold) / max(cfg.lio_pace_learn_share - hold, 1e-9), 0.0, 1.0)
            )
            v_heading = rot_z(-yaw)[:3, :3] @ s.v  # in the heading's frame
            w = min(trust * dt_s / cfg.lio_pace_window_s, 1.0)
            self._v_walk = (
                v_heading if self._v_walk is None else (1 - w) * self._v_walk + w * v_heading
            )
            self._v_walk_s += trust * dt_s
            return
        if (
            cfg.lio_pace_sigma_mps <= 0.0
            or self._v_walk_s < cfg.lio_pace_window_s  # no pace yet (a start in a corridor)
            or not np.any(self.degenerate_axis)
        ):
            return
        a = self.degenerate_axis / np.linalg.norm(self.degenerate_axis)
        v_ref = rot_z(yaw)[:3, :3] @ self._v_walk  # [3] world
        H = np.zeros(s.dim)
        H[V] = a
        PHt = s.cov @ H
        gain = PHt / (H @ PHt + cfg.lio_pace_sigma_mps**2)
        self.state = s.boxplus(gain * float(a @ (v_ref - s.v)))
        cov = s.cov - np.outer(gain, PHt)
        self.state.cov = 0.5 * (cov + cov.T)


def _pace_hold_share(cfg: OdometryConfig) -> float:
    """Under this share of the strongest direction's information the pace is held."""
    return max(cfg.lio_pace_share, cfg.degeneracy_ratio)


def _yaw(R: np.ndarray) -> float:  # [3, 3] -> heading of its x axis about world z, rad
    return float(np.arctan2(R[1, 0], R[0, 0]))


def _point_dt_s(sweep: LidarSweep) -> np.ndarray:  # -> [N] seconds after sweep.t_ns
    """Each point's time in the sweep; all at its start when the sweep has none."""
    return sweep.point_dt_s if sweep.point_dt_s is not None else np.zeros(len(sweep), np.float32)


def _transform(points: np.ndarray, T: np.ndarray) -> np.ndarray:  # [N, 3], [4, 4] -> [N, 3]
    return points @ T[:3, :3].T + T[:3, 3]
