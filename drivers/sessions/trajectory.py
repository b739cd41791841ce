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


def poses_at(
    t_s: np.ndarray, t_traj_s: np.ndarray, T_traj: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # [K], [N], [N, 4, 4] -> (keep [K] bool, [k, 4, 4])
    """The trajectory's poses at the times t_s inside it (slerp and linear); keep says which.

    A pose whose time does not follow the one before (a repeated or late sweep in a
    trajectory written live) is passed over rather than failing the interpolation."""
    from scipy.spatial.transform import Slerp

    t_s, t_traj_s = np.atleast_1d(np.asarray(t_s, float)), np.asarray(t_traj_s, float)
    if len(t_traj_s) < 2:  # one pose spans no time to interpolate in
        return np.zeros(len(t_s), bool), np.zeros((0, 4, 4))
    rising = np.concatenate([[True], t_traj_s[1:] > np.maximum.accumulate(t_traj_s)[:-1]])
    t_traj_s, T_traj = t_traj_s[rising], T_traj[rising]
    keep = (t_s >= t_traj_s[0]) & (t_s <= t_traj_s[-1])
    if len(t_traj_s) < 2:
        return np.zeros(len(t_s), bool), np.zeros((0, 4, 4))
    t = t_s[keep]
    R = Slerp(t_traj_s, Rotation.from_matrix(T_traj[:, :3, :3]))(t).as_matrix()
    p = np.column_stack([np.interp(t, t_traj_s, T_traj[:, i, 3]) for i in range(3)])
    T = np.tile(np.eye(4), (len(t), 1, 1))
    T[:, :3, :3], T[:, :3, 3] = R, p
    return keep, T


def write_tum(path: str | Path, t_s: np.ndarray, T: np.ndarray) -> None:
    """Write poses T [N, 4, 4] with times t_s [N] as a TUM trajectory file."""
    t_s = np.asarray(t_s, dtype=np.float64)  # [N]
    T = np.asarray(T, dtype=np.float64)  # [N, 4, 4]
    if T.ndim != 3 or T.shape[1:] != (4, 4) or len(T) != len(t_s):
        raise ValueError(f"need t_s [N] and T [N, 4, 4], got {t_s.shape} and {T.shape}")
    q = Rotation.from_matrix(T[:, :3, :3]).as_quat() if len(T) else np.zeros((0, 4))  # [N, 4]
    rows = np.column_stack([t_s, T[:, :3, 3], q])  # [N, 8]
    np.savetxt(path, rows, fmt=["%.6f"] + ["%.9f"] * 7)
