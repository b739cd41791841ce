"""One simulated unit: how its true calibration and clocks differ from the nominal ones.

A real Mid-360 leaves the factory with its lidar-IMU extrinsic known only to a tolerance, a
camera bracket is mounted to one, and clocks disagree by milliseconds. The twin simulates the
sensors with the true values drawn here from the seed (realism.TimingErrors) and records only
the nominal ones in session.json, as a real unit would; the true ones go into twin_truth.json.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from drivers.sim.realism import TimingErrors


def perturbed(
    T_nominal: np.ndarray,  # [4, 4]
    rot_deg: float,
    trans_mm: float,
    rng: np.random.Generator,
) -> np.ndarray:  # [4, 4]
    """T_nominal with a rotation uniform within +-rot_deg about each axis and a translation
    within +-trans_mm on each axis (applied in the nominal frame: T_nominal @ dT)."""
    dT = np.eye(4)
    dT[:3, :3] = Rotation.from_rotvec(np.deg2rad(rng.uniform(-rot_deg, rot_deg, 3))).as_matrix()
    dT[:3, 3] = rng.uniform(-trans_mm, trans_mm, 3) * 1e-3
    return np.asarray(T_nominal, dtype=float) @ dT


@dataclass(frozen=True, eq=False)
class SimulatedUnit:
    """The true extrinsics (body = lidar frame) and clock errors of one simulated device."""

    T_lidar_imu: np.ndarray  # [4, 4] true
    T_lidar_external_imu: np.ndarray  # [4, 4] true
    T_lidar_camera: np.ndarray  # [4, 4] true
    imu_offset_ns: int  # the IMUs' stamps run late against the lidar's by this much
    camera_jitter_s: float  # 1 sigma

    @classmethod
    def draw(
        cls,
        timing: TimingErrors,
        seed: int,
        T_lidar_imu: np.ndarray,  # [4, 4] nominal
        T_lidar_external_imu: np.ndarray,  # [4, 4] nominal
        T_lidar_camera: np.ndarray,  # [4, 4] nominal
    ) -> SimulatedUnit:
        """A seeded unit (a stream of its own). With every timing error 0, the nominal one."""
        rng = np.random.default_rng([seed, 0x0417])
        rot, trans = timing.extrinsic_rot_deg, timing.extrinsic_trans_mm
        return cls(
            perturbed(T_lidar_imu, rot, trans, rng),
            perturbed(T_lidar_external_imu, rot, trans, rng),
            perturbed(T_lidar_camera, rot, trans, rng),
            int(round(timing.lidar_imu_offset_ms * 1e6)),
            timing.camera_jitter_ms * 1e-3,
        )

    def to_dict(self) -> dict:
        return {
            "T_lidar_imu": self.T_lidar_imu.tolist(),
            "T_lidar_external_imu": self.T_lidar_external_imu.tolist(),
            "T_lidar_camera": self.T_lidar_camera.tolist(),
            "imu_offset_ns": self.imu_offset_ns,
            "camera_jitter_s": self.camera_jitter_s,
        }
