"""Read and write trajectories in the TUM format.

One pose per line: ``t tx ty tz qx qy qz qw`` (time in seconds, translation in metres, unit
quaternion with the scalar last). Each pose is T_world_sensor, the sensor's pose in the world.
The scanner's own trajectories are the lidar's, one pose a sweep, stamped at the sweep's middle
(halfway between its first and last point) on the recording's clock.
Lines that are empty or start with ``#`` are ignored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation


def read_tum(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (t_s [N], T [N, 4, 4]) from a TUM trajectory file."""
    rows = np.loadtxt(path, comments="#", ndmin=2, dtype=np.float64)  # [N, 8]
    if rows.shape[0] and rows.shape[1] != 8:
        raise ValueError(
            f"{path}: expected 8 columns (t tx ty tz qx qy qz qw), got {rows.shape[1]}"
        )
    T = np.tile(np.eye(4), (len(rows), 1, 1))
    if len(rows):
        T[:, :3, :3] = Rotation.from_quat(rows[:, 4:8]).as_matrix()  # scipy order: x y z w
        T[:, :3, 3] = rows[:, 1:4]
    return rows[:, 0].copy(), T


def write_tum(path: str | Path, t_s: np.ndarray, T: np.ndarray) -> None:
    """Write poses T [N, 4, 4] with times t_s [N] as a TUM trajectory file."""
    t_s = np.asarray(t_s, dtype=np.float64)  # [N]
    T = np.asarray(T, dtype=np.float64)  # [N, 4, 4]
    if T.ndim != 3 or T.shape[1:] != (4, 4) or len(T) != len(t_s):
        raise ValueError(f"need t_s [N] and T [N, 4, 4], got {t_s.shape} and {T.shape}")
    q = Rotation.from_matrix(T[:, :3, :3]).as_quat() if len(T) else np.zeros((0, 4))  # [N, 4]
    rows = np.column_stack([t_s, T[:, :3, 3], q])  # [N, 8]
    np.savetxt(path, rows, fmt=["%.6f"] + ["%.9f"] * 7)
