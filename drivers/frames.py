"""One frame type per sensor: plain frozen dataclasses of numpy arrays.

Live drivers, session replay and scan folders all yield these, so SLAM cannot tell where its
data came from.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class LidarSweep:
    """One sweep (or one whole scan) of the lidar, in the lidar frame."""

    t_ns: int  # sweep time on the recording's clock (start of the sweep when per-point times exist)
    xyz_m: np.ndarray  # [N, 3] float, metres, lidar frame
    intensity: np.ndarray | None = None  # [N] float32
    point_dt_s: np.ndarray | None = None  # [N] float32, seconds after t_ns; None if not known
    index: int = 0  # position in its source

    def __post_init__(self) -> None:
        if self.xyz_m.ndim != 2 or self.xyz_m.shape[1] != 3:
            raise ValueError(f"xyz_m must be [N, 3], got {self.xyz_m.shape}")
        n = len(self.xyz_m)
        for name in ("intensity", "point_dt_s"):
            a = getattr(self, name)
            if a is not None and a.shape != (n,):
                raise ValueError(f"{name} must be [{n}], got {a.shape}")

    @property
    def t_s(self) -> float:
        return self.t_ns * 1e-9

    def __len__(self) -> int:
        return len(self.xyz_m)
