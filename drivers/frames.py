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
    line: np.ndarray | None = None  # [N] uint8 laser channel (Livox "line")
    tag: np.ndarray | None = None  # [N] uint8 Livox return tag

    def __post_init__(self) -> None:
        if self.xyz_m.ndim != 2 or self.xyz_m.shape[1] != 3:
            raise ValueError(f"xyz_m must be [N, 3], got {self.xyz_m.shape}")
        n = len(self.xyz_m)
        for name in ("intensity", "point_dt_s", "line", "tag"):
            a = getattr(self, name)
            if a is not None and a.shape != (n,):
                raise ValueError(f"{name} must be [{n}], got {a.shape}")

    @property
    def t_s(self) -> float:
        return self.t_ns * 1e-9

    @property
    def end_ns(self) -> int:
        """The time of the sweep's last point (t_ns when points carry no times)."""
        if self.point_dt_s is None or len(self.point_dt_s) == 0:
            return self.t_ns
        return self.t_ns + round(float(self.point_dt_s.max()) * 1e9)

    @property
    def mid_ns(self) -> int:
        """Halfway between the sweep's first and last point (t_ns when points carry no times):
        the time every SLAM pose of this sweep refers to."""
        if self.point_dt_s is None or len(self.point_dt_s) == 0:
            return self.t_ns
        span = float(self.point_dt_s.min()) + float(self.point_dt_s.max())
        return self.t_ns + round(0.5 * span * 1e9)

    def __len__(self) -> int:
        return len(self.xyz_m)


@dataclass(frozen=True, slots=True)
class ImuSample:
    """One IMU reading in SI units, in the IMU's own frame."""

    t_ns: int
    gyro_radps: np.ndarray  # [3]
    accel_mps2: np.ndarray  # [3] specific force: +9.81 up at rest

    @property
    def t_s(self) -> float:
        return self.t_ns * 1e-9


@dataclass(frozen=True, slots=True)
class CameraFrame:
    """One compressed camera image."""

    t_ns: int  # middle of the exposure, host clock
    jpeg: bytes
    width: int
    height: int
    exposure_s: float = 0.0

    @property
    def t_s(self) -> float:
        return self.t_ns * 1e-9
