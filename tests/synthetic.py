"""Synthetic lidar scans of a simple, well-constrained indoor scene, for tests.

The scene is a closed box-shaped room (10 m x 8 m x 3 m: walls, floor, ceiling) with a few
boxes standing in it, so that every degree of freedom of a scan-to-map registration is
constrained. Scans are made by casting rays from the sensor and keeping the first hit, so
occlusion and the fall-off of density with range are those of a real lidar.
"""

from __future__ import annotations

import numpy as np

# Axis-aligned boxes in the world frame, as (min corner, max corner), metres.
ROOM: tuple[tuple[float, float, float], tuple[float, float, float]] = (
    (-5.0, -4.0, 0.0),
    (5.0, 4.0, 3.0),
)
OBSTACLES: tuple[tuple[tuple[float, float, float], tuple[float, float, float]], ...] = (
    ((1.5, 1.0, 0.0), (2.5, 2.2, 1.2)),  # a crate
    ((-3.5, -3.0, 0.0), (-2.5, -1.8, 2.0)),  # a cupboard
    ((2.5, -2.8, 0.0), (3.5, -2.0, 0.8)),  # a low table
    ((-1.2, 2.0, 0.0), (-0.8, 2.4, 3.0)),  # a pillar, floor to ceiling
    ((3.8, 0.5, 1.0), (5.0, 1.5, 1.8)),  # a shelf on the +x wall
)


def _slabs(
    origin: np.ndarray, dirs: np.ndarray, lo: np.ndarray, hi: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Ray parameters [N] where each ray enters and leaves the box [lo, hi]."""
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (lo - origin) / dirs  # [N, 3]
        t2 = (hi - origin) / dirs  # [N, 3]
    t_enter = np.max(np.minimum(t1, t2), axis=1)
    t_exit = np.min(np.maximum(t1, t2), axis=1)
    return t_enter, t_exit


def room_ray_ranges(origin_world: np.ndarray, dirs_world: np.ndarray) -> np.ndarray:
    """Distance [N] along each unit ray [N, 3] from origin_world [3] to the first surface."""
    _, t_hit = _slabs(origin_world, dirs_world, np.array(ROOM[0]), np.array(ROOM[1]))
    for lo, hi in OBSTACLES:
        t_enter, t_exit = _slabs(origin_world, dirs_world, np.array(lo), np.array(hi))
        hits = (t_enter > 0.0) & (t_enter <= t_exit)
        t_hit = np.where(hits, np.minimum(t_hit, t_enter), t_hit)
    return t_hit


def make_room_scan(
    T_world_lidar: np.ndarray, n_points: int, rng: np.random.Generator, noise_m: float
) -> np.ndarray:
    """One scan [n_points, 3] in the lidar frame, seen from the pose T_world_lidar [4, 4].

    Ray directions are uniform on the sphere; each range gets gaussian noise of sigma noise_m.
    The sensor must stand inside the room and outside the obstacles.
    """
    dirs_lidar = rng.normal(size=(n_points, 3))
    dirs_lidar /= np.linalg.norm(dirs_lidar, axis=1, keepdims=True)
    R, t = T_world_lidar[:3, :3], T_world_lidar[:3, 3]
    ranges = room_ray_ranges(t, dirs_lidar @ R.T)
    ranges = ranges + rng.normal(scale=noise_m, size=n_points)
    return dirs_lidar * ranges[:, None]


def pose(x: float, y: float, z: float, yaw_deg: float) -> np.ndarray:
    """T [4, 4]: a translation and a rotation about z."""
    c, s = np.cos(np.radians(yaw_deg)), np.sin(np.radians(yaw_deg))
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]]
    T[:3, 3] = (x, y, z)
    return T
