"""Lidar odometry and local mapping, kiss-icp's loop with point-to-plane residuals.

Per sweep: crop, deskew, voxelize, predict with constant velocity, register to the local map
(point-to-plane, robust kernel, adaptive gate), notice a lost prior and recover it by searching
the heading, then add the sweep to the map and evict what is far behind.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass

import numpy as np

from drivers.frames import LidarSweep
from slam.config import OdometryConfig
from slam.preprocess import crop, deskew, voxel_downsample
from slam.registration import RegistrationResult, register
from slam.se3 import rot_z, se3_exp, se3_inv, se3_log, transform
from slam.voxel_map import VoxelMap

log = logging.getLogger(__name__)

MIN_POINTS = 100  # a sweep with fewer usable points cannot be registered


class TooFewPointsError(ValueError):
    """The sweep has too few usable points to register."""


@dataclass(frozen=True, slots=True)
class OdometryStep:
    """The result of one sweep."""

    # The time of the pose, the same for every odometry (lidar-only and LiDAR-inertial): the
    # sweep's middle, halfway between its first and last point (LidarSweep.mid_ns); a scan
    # without per-point times is one instant, its t_ns. Trajectory files (TUM), the live view
    # and the products all carry this time.
    t_ns: int
    T_world_lidar: np.ndarray  # [4, 4] the lidar's pose at t_ns
    points_world: np.ndarray  # [M, 3] deskewed points at map resolution, world frame
    inlier_fraction: float
    information: np.ndarray  # [6, 6]
    recovered: bool  # the motion prior was lost and the heading search found the pose
    # every usable point of the sweep, deskewed, in the world frame, and its index in the sweep
    # (only when the odometry was asked for them: the map products need them, live SLAM not)
    scan_world: np.ndarray | None = None  # [K, 3]
    scan_index: np.ndarray | None = None  # [K] int
    # the direction of translation the lidar could not see (a featureless tunnel), unit, world
    # frame; None when the geometry held every direction (the LiDAR-inertial filter sets it)
    degenerate_axis: np.ndarray | None = None  # [3]


class AdaptiveThreshold:
    """kiss-icp's adaptive gate: the spread of the motion model's recent errors."""

    def __init__(self, initial_m: float, min_m: float, max_range_m: float) -> None:
        self.initial_m, self.min_m, self.max_range_m = initial_m, min_m, max_range_m
        self._sse, self._n = 0.0, 0

    def update(self, model_deviation: np.ndarray) -> None:  # [4, 4]
        xi = se3_log(model_deviation)
        rot_err = 2.0 * self.max_range_m * np.sin(min(np.linalg.norm(xi[:3]), np.pi) / 2.0)
        err = max(rot_err, float(np.linalg.norm(model_deviation[:3, 3])))
        self._sse += err * err
        self._n += 1

    @property
    def sigma_m(self) -> float:
        if self._n == 0:
            return self.initial_m
        return max(np.sqrt(self._sse / self._n), self.min_m)


class LidarOdometry:
    """Scan-to-map lidar odometry. A plain object: no threads, no I/O."""

    def __init__(self, config: OdometryConfig | None = None, full_scan: bool = False) -> None:
        self.full_scan = full_scan  # also return every deskewed point (OdometryStep.scan_world)
        self.config = cfg = config or OdometryConfig()
        self.map = VoxelMap(cfg.map_voxel_m, cfg.max_points_per_voxel, cfg.map_point_spacing_m)
        self.threshold = AdaptiveThreshold(
            cfg.initial_threshold_m, cfg.min_threshold_m, cfg.max_range_m
        )
        self.T_world_lidar = np.eye(4)
        self.twist_per_s = np.zeros(6)  # [w, v] of the last motion, on the right
        self.t_ns: int | None = None
        self.recent_inliers: deque[float] = deque(maxlen=20)
        self.n_recovered = 0

    def register_frame(self, sweep: LidarSweep) -> OdometryStep:
        cfg = self.config
        keep = crop(sweep.xyz_m, cfg.min_range_m, cfg.max_range_m)
        if len(keep) < MIN_POINTS:
            raise TooFewPointsError(f"sweep {sweep.index}: {len(keep)} usable points")
        points = sweep.xyz_m[keep]
        t_ns = sweep.mid_ns  # the time the pose refers to
        if cfg.deskew and sweep.point_dt_s is not None:
            # deskew to the middle of the sweep: an error in the velocity then blurs the sweep
            # symmetrically instead of biasing its pose, which would feed back into the next
            # velocity estimate and oscillate (deskewed to its end, the twin's ATE was 1.5-2x)
            mid_s = (t_ns - sweep.t_ns) * 1e-9
            points = deskew(
                points,
                sweep.point_dt_s[keep] - mid_s,
                se3_exp(self.twist_per_s * cfg.scan_period_s),
                cfg.scan_period_s,
            )
        dt_s = 0.0 if self.t_ns is None else (t_ns - self.t_ns) * 1e-9
        frame = points[voxel_downsample(points, cfg.map_point_spacing_m)]
        source = frame[voxel_downsample(frame, cfg.source_voxel_m)]
        dense = frame[voxel_downsample(frame, cfg.refine_source_voxel_m)]

        T_pred = self.T_world_lidar @ se3_exp(self.twist_per_s * dt_s)
        if self.t_ns is None:  # the first sweep defines the world frame
            T_new, inliers, info, recovered = T_pred, 1.0, np.zeros((6, 6)), False
        else:
            result, recovered = self._register(source, dense, T_pred)
            T_new, inliers, info = result.T_world_lidar, result.inlier_fraction, result.information
            if dt_s > 0:
                self.twist_per_s = se3_log(se3_inv(self.T_world_lidar) @ T_new) / dt_s
            self.recent_inliers.append(inliers)
        self.T_world_lidar, self.t_ns = T_new, t_ns

        points_world = transform(T_new, frame)
        self.map.add(points_world)
        self.map.remove_far(T_new[:3, 3], cfg.local_map_radius_m)
        scan = (transform(T_new, points), keep) if self.full_scan else (None, None)
        return OdometryStep(t_ns, T_new, points_world, inliers, info, recovered, *scan)

    def _register(
        self, source: np.ndarray, dense: np.ndarray, T_pred: np.ndarray
    ) -> tuple[RegistrationResult, bool]:
        """Register from the prediction; if it looks lost, search the heading, keep the best."""
        result = self._align(source, T_pred, dense, update_threshold=True)
        expected = float(np.median(self.recent_inliers)) if self.recent_inliers else 0.0
        if result.inlier_fraction >= self.config.recovery_inlier_ratio * expected:
            return result, False
        # coarse alignment from each promising heading, then refine the best one
        best = None
        sparse = source[:: self.config.recovery_subsample]
        for T0 in self._recovery_candidates(sparse, T_pred):
            r = self._align(sparse, T0, sparse, update_threshold=False, refine=False)
            if best is None or r.inlier_fraction > best.inlier_fraction:
                best = r
        best = self._align(source, best.T_world_lidar, dense, update_threshold=False)
        if best.inlier_fraction <= result.inlier_fraction:
            log.info(
                "inliers %.2f, expected %.2f: the heading search found nothing better",
                result.inlier_fraction,
                expected,
            )
            return result, False
        self.n_recovered += 1
        log.info(
            "motion prior lost (inliers %.2f, expected %.2f); heading search gives %.2f",
            result.inlier_fraction,
            expected,
            best.inlier_fraction,
        )
        return best, True

    def _align(
        self,
        source: np.ndarray,
        T0: np.ndarray,
        dense: np.ndarray,
        update_threshold: bool,
        refine: bool = True,
    ) -> RegistrationResult:
        """Coarse registration of source under the adaptive gate, then dense under a tight one.

        Without refine, the coarse result is returned with its inlier share under the tight gate,
        so that results from different starts compare fairly.
        """
        cfg = self.config
        common = dict(
            k=cfg.plane_neighbors,
            max_neighbor_distance_m=cfg.max_neighbor_distance_m,
            plane_tolerance_m=cfg.plane_tolerance_m,
            max_iterations=cfg.max_iterations,
            convergence_eps=cfg.convergence_eps,
        )
        gate = min(3.0 * self.threshold.sigma_m, cfg.max_threshold_m)
        coarse = register(self.map, source, T0, max_residual_m=gate, kernel_m=gate / 3.0, **common)
        fine_gate = cfg.refine_threshold_m
        if not refine:
            common["max_iterations"] = 1
        fine = register(
            self.map,
            dense,
            coarse.T_world_lidar,
            max_residual_m=fine_gate,
            kernel_m=fine_gate / 3.0,
            **common,
        )
        if update_threshold:
            self.threshold.update(se3_inv(T0) @ fine.T_world_lidar)
        return fine

    def _recovery_candidates(self, source: np.ndarray, T_pred: np.ndarray, n_best: int = 4):
        """Headings around the prediction and around standing still, best overlap first."""
        cfg = self.config
        reach = np.deg2rad(cfg.recovery_yaw_range_deg)
        yaws = np.arange(-reach, reach + 1e-9, np.deg2rad(cfg.recovery_yaw_step_deg))
        candidates = [base @ rot_z(y) for base in (T_pred, self.T_world_lidar) for y in yaws]
        scores = [self.map.occupied_fraction(transform(T, source)) for T in candidates]
        order = np.argsort(scores)[::-1][:n_best]
        return [candidates[i] for i in order]
