"""Per-sweep preprocessing: range crop, voxel downsampling and constant-velocity deskew."""

from __future__ import annotations

import numba as nb
import numpy as np

from slam.se3 import so3_log
from slam.voxel_hash import _EMPTY, _pack, _probe


@nb.njit(cache=True)
def _in_range(points, min_r2, max_r2):
    keep = np.empty(points.shape[0], dtype=np.int64)
    m = 0
    for i in range(points.shape[0]):
        r2 = points[i, 0] ** 2 + points[i, 1] ** 2 + points[i, 2] ** 2
        if min_r2 <= r2 <= max_r2:  # False for NaN
            keep[m] = i
            m += 1
    return keep[:m]


def crop(points: np.ndarray, min_range_m: float, max_range_m: float) -> np.ndarray:  # [N, 3]
    """Keep finite points with min_range_m <= |p| <= max_range_m -> index array."""
    return _in_range(np.ascontiguousarray(points), float(min_range_m) ** 2, float(max_range_m) ** 2)


@nb.njit(cache=True)
def _first_in_voxel(points, inv_voxel):
    n = points.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    keys = np.full(size, _EMPTY, dtype=np.int64)
    mask = size - 1
    keep = np.empty(n, dtype=np.int64)
    m = 0
    for i in range(n):
        key = _pack(
            int(np.floor(points[i, 0] * inv_voxel)),
            int(np.floor(points[i, 1] * inv_voxel)),
            int(np.floor(points[i, 2] * inv_voxel)),
        )
        h = _probe(keys, key, mask)
        if keys[h] == _EMPTY:
            keys[h] = key
            keep[m] = i
            m += 1
    return keep[:m]


def voxel_downsample(points: np.ndarray, voxel_m: float) -> np.ndarray:  # [N, 3]
    """Indices of the first point in each voxel of size voxel_m (order kept)."""
    if len(points) == 0:
        return np.zeros(0, dtype=np.int64)
    return _first_in_voxel(np.ascontiguousarray(points, dtype=np.float64), 1.0 / voxel_m)


def deskew(
    points: np.ndarray,  # [N, 3] lidar frame, each at its own time
    dt_s: np.ndarray,  # [N] seconds after the sweep's reference time
    delta: np.ndarray,  # [4, 4] motion of the lidar over one frame period (T_prev^-1 @ T_now)
    period_s: float,
) -> np.ndarray:
    """Express every point in the lidar frame at the reference time, assuming constant velocity."""
    w = so3_log(delta[:3, :3]) / period_s  # rad/s, lidar frame
    v = delta[:3, 3] / period_s  # m/s
    theta = np.linalg.norm(w)
    s = dt_s.astype(np.float64)[:, None]
    if theta < 1e-9:
        return points + s * v
    axis = w / theta
    ang = s * theta  # [N, 1]
    cos, sin = np.cos(ang), np.sin(ang)
    # Rodrigues, one angle per point: R p = p cos + (a x p) sin + a (a.p)(1 - cos)
    rotated = (
        points * cos + np.cross(axis, points) * sin + np.outer(points @ axis, axis) * (1 - cos)
    )
    return rotated + s * v
