"""A synthetic Mid-360 source for the Livox tests (also used by the SDK interop child)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from drivers.frames import ImuSample, LidarSweep
from drivers.livox.packets import STANDARD_GRAVITY_MPS2

SWEEP_PERIOD_NS = 100_000_000
IMU_PERIOD_NS = 5_000_000  # 200 Hz


def synthetic_frames(
    n_sweeps: int | None = None,
    points_per_sweep: int = 2_400,
    *,
    t0_ns: int = 5_000_000_000,
    seed: int = 0,
    imu: bool = True,
) -> Iterator[LidarSweep | ImuSample]:
    """A lidar at rest in a room: sweeps of evenly timed points, then that period's IMU.

    Points sit 2-20 m away in all directions (no empty returns), so every point survives
    every data type's quantisation. The IMU reads gravity only: acc (0, 0, +g), gyro ~0.
    """
    rng = np.random.default_rng(seed)
    dt_ns = SWEEP_PERIOD_NS // points_per_sweep
    k = 0
    while n_sweeps is None or k < n_sweeps:
        dirs = rng.normal(size=(points_per_sweep, 3))
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        xyz = dirs * rng.uniform(2.0, 20.0, size=(points_per_sweep, 1))  # [N, 3]
        t_ns = t0_ns + k * SWEEP_PERIOD_NS
        yield LidarSweep(
            t_ns=t_ns,
            xyz_m=xyz,
            intensity=rng.integers(0, 256, points_per_sweep).astype(np.float32),
            point_dt_s=(np.arange(points_per_sweep) * dt_ns * 1e-9).astype(np.float32),
            index=k,
            tag=rng.integers(0, 4, points_per_sweep).astype(np.uint8),
        )
        if imu:
            for j in range(SWEEP_PERIOD_NS // IMU_PERIOD_NS):
                yield ImuSample(
                    t_ns=t_ns + j * IMU_PERIOD_NS,
                    gyro_radps=np.array([0.001, -0.002, 0.003]),
                    accel_mps2=np.array([0.0, 0.0, STANDARD_GRAVITY_MPS2]),
                )
        k += 1
