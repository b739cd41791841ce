"""Point-to-plane registration of a scan to the voxel map: Gauss-Newton with a robust kernel.

The residual of a point p (lidar frame) under the pose T is r = n . (T p) + d, with the plane
(n, d) fitted to the map around T p. With the left perturbation T <- exp(xi) T, xi = [w, v],
its Jacobian is [(T p) x n, n]. The LiDAR-inertial filter uses the same residuals and Jacobians.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from slam.se3 import se3_exp, transform
from slam.voxel_map import PlaneMatches, VoxelMap


@dataclass(frozen=True, slots=True)
class PlaneResiduals:
    """Point-to-plane residuals of one scan against the map, inliers only."""

    residual_m: np.ndarray  # [M]
    jacobian: np.ndarray  # [M, 6] d r / d xi, xi = [w, v] on the left


def plane_residuals(
    planes: PlaneMatches,
    points_lidar: np.ndarray,  # [N, 3]
    T_world_lidar: np.ndarray,  # [4, 4]
    max_residual_m: float,
) -> PlaneResiduals:
    """Residuals and Jacobians of the points against their planes, gated at max_residual_m."""
    p_w = transform(T_world_lidar, points_lidar)
    r = np.einsum("ij,ij->i", planes.normal, p_w) + planes.offset
    inl = planes.valid & (np.abs(r) < max_residual_m)
    n, p = planes.normal[inl], p_w[inl]
    return PlaneResiduals(residual_m=r[inl], jacobian=np.hstack([np.cross(p, n), n]))


@dataclass(frozen=True, slots=True)
class RegistrationResult:
    T_world_lidar: np.ndarray  # [4, 4]
    inlier_fraction: float  # share of the source points with a plane within the threshold
    rms_residual_m: float  # of the inliers
    information: np.ndarray  # [6, 6] J^T W J at the solution (degeneracy lives in its eigenvalues)
    iterations: int
    converged: bool


def register(
    vmap: VoxelMap,
    points_lidar: np.ndarray,  # [N, 3]
    T_init: np.ndarray,  # [4, 4] initial guess of T_world_lidar
    *,
    max_residual_m: float,
    kernel_m: float,
    k: int = 5,
    max_neighbor_distance_m: float = 1.0,
    plane_tolerance_m: float = 0.1,
    max_iterations: int = 30,
    convergence_eps: float = 1e-4,
    research_eps: float = 1e-2,
) -> RegistrationResult:
    """Iteratively re-weighted Gauss-Newton; weights are Geman-McClure with scale kernel_m.

    Planes are searched again after every update larger than research_eps; once the pose
    settles, the iterations reuse them, which is where most of the time would go.
    """
    T = T_init.copy()
    H = np.zeros((6, 6))
    res = planes = None
    converged = False
    step = np.inf
    it = 0
    for it in range(1, max_iterations + 1):  # noqa: B007
        if step > research_eps:
            p_w = transform(T, points_lidar)
            planes = vmap.fit_planes(p_w, k, max_neighbor_distance_m, plane_tolerance_m)
        res = plane_residuals(planes, points_lidar, T, max_residual_m)
        if len(res.residual_m) < 6:
            break
        k2 = kernel_m * kernel_m
        w = (k2 / (k2 + res.residual_m**2)) ** 2
        Jw = res.jacobian * w[:, None]
        H = Jw.T @ res.jacobian
        b = Jw.T @ res.residual_m
        try:
            dx = -np.linalg.solve(H + 1e-9 * np.eye(6), b)
        except np.linalg.LinAlgError:
            break
        T = se3_exp(dx) @ T
        step = float(np.linalg.norm(dx))
        if step < convergence_eps:
            converged = True
            break
    n_in = 0 if res is None else len(res.residual_m)
    rms = float(np.sqrt(np.mean(res.residual_m**2))) if n_in else float("inf")
    return RegistrationResult(
        T_world_lidar=T,
        inlier_fraction=n_in / max(len(points_lidar), 1),
        rms_residual_m=rms,
        information=H,
        iterations=it,
        converged=converged,
    )
