"""The digital twin as a Source: a virtual scanner walking through a scene.

`TwinSource(settings).frames()` yields what the real device's drivers would, tagged by sensor and
in time order: Mid-360 sweeps (its real firing pattern, every point cast from the pose at its
own time), the built-in IMU, the optional serial IMU and camera images, each simulated as it is
asked for. It also knows what only a twin can: the true trajectory and the scene's mesh.
`generate_session` records it into the session format, like the device's recorder.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from drivers.frames import CameraFrame, ImuSample
from drivers.sessions.manifest import Calibration, CameraCalibration, SensorInfo
from drivers.sim.actors import make_actors
from drivers.sim.camera import CameraModel, encode_jpeg, render
from drivers.sim.imu import EXTERNAL_IMU, ICM40609, T_LIDAR_IMU_MID360, simulate_imu
from drivers.sim.lidar import LidarModel, Mid360Pattern, simulate_sweep
from drivers.sim.motion import make_trajectory
from drivers.sim.realism import Realism
from drivers.sim.scenes.catalog import make_scene
from drivers.sim.scenes.raycast import Raycaster
from drivers.sim.unit import SimulatedUnit
from drivers.sim.walk_path import starting_at
from drivers.source import Counter, Sensor, SensorHealth, Tagged

T0_NS = 1_767_225_600 * 1_000_000_000  # the twin's clock starts at 2026-01-01T00:00:00Z (UTC)
SWEEP_PERIOD_S = 0.1
IMU_RATE_HZ = 200.0
EXTERNAL_IMU_RATE_HZ = 400.0
# the serial IMU sits under the lidar on the handle, turned 180 degrees about z
T_LIDAR_EXTERNAL_IMU = np.array(
    [[-1.0, 0.0, 0.0, 0.02], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -0.12], [0.0, 0.0, 0.0, 1.0]]
)
# the camera looks forward, 8 cm below the lidar: camera axes x right, y down, z forward
T_LIDAR_CAMERA = np.array(
    [[0.0, 0.0, 1.0, 0.05], [-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, -0.08], [0.0, 0.0, 0.0, 1.0]]
)


@dataclass(frozen=True)
class SimSettings:
    scene: str = "office"
    seed: int = 0
    duration_s: float = 60.0
    motion: str = "walk"
    start_m: float = 0.0  # where along the scene's walk path the walk starts (another mission)
    scene_seed: int | None = None  # the scene's own seed (None: seed): one site, many missions
    camera_rate_hz: float = 10.0  # 0 turns the camera off
    external_imu: bool = False  # also an Xsens-class serial IMU, 400 Hz, on /xsens/imu
    camera: CameraModel = CameraModel()
    exposure_s: float = 0.005
    realism: Realism = field(default_factory=Realism)  # the real-world errors; ideal: none


class TwinSource:
    """The twin's sensors as a Source. Frames come sweep by sweep: each 100 ms window's sweep,
    IMU samples and images, sorted by time (so each sensor is in time order, as live)."""

    def __init__(self, settings: SimSettings) -> None:
        self.settings = s = settings
        errors = s.realism
        self.scene = make_scene(s.scene, s.seed if s.scene_seed is None else s.scene_seed)
        self.raycaster = Raycaster(self.scene)
        self.trajectory = make_trajectory(
            starting_at(self.scene.walk_path, s.start_m),
            s.motion,
            s.duration_s,
            s.seed,
            step_vibration_mps2=errors.imu.step_vibration_mps2,
        )
        # people, doors and the operator's own body, cast per ray at its time (None: nothing)
        self.actors = make_actors(
            self.scene, self.trajectory, errors.dynamics, errors.lidar.operator_body, s.seed
        )
        self.n_sweeps = int(round(s.duration_s / SWEEP_PERIOD_S))
        # the unit's true calibration and clocks: the sensors see these, session.json says
        # the nominal ones (calibration())
        self.unit = SimulatedUnit.draw(
            errors.timing, s.seed, T_LIDAR_IMU_MID360, T_LIDAR_EXTERNAL_IMU, T_LIDAR_CAMERA
        )
        self.imu = simulate_imu(
            self.trajectory,
            self.unit.T_lidar_imu,
            s.duration_s,
            IMU_RATE_HZ,
            ICM40609,
            s.seed,
            errors=errors.imu,
        )
        self.external_imu = (
            simulate_imu(
                self.trajectory,
                self.unit.T_lidar_external_imu,
                s.duration_s,
                EXTERNAL_IMU_RATE_HZ,
                EXTERNAL_IMU,
                s.seed + 1,
            )
            if s.external_imu
            else None
        )
        self.camera_times_s = (
            np.arange(0.0, s.duration_s, 1.0 / s.camera_rate_hz)
            if s.camera_rate_hz > 0
            else np.zeros(0)
        )  # [C] when each image is taken
        jitter = np.random.default_rng([s.seed, 0xCA3]).normal(
            0.0, self.unit.camera_jitter_s, len(self.camera_times_s)
        )
        self.camera_stamps_ns = T0_NS + np.round((self.camera_times_s + jitter) * 1e9).astype(
            np.int64
        )  # [C] what each image is stamped with
        self._counter = Counter(tuple(self.sensors()))

    def sensors(self) -> list[Sensor]:
        out = [Sensor.lidar, Sensor.imu]
        if self.external_imu is not None:
            out.append(Sensor.external_imu)
        if len(self.camera_times_s):
            out.append(Sensor.camera)
        return out

    def frames(self) -> Iterator[Tagged]:
        self._counter = Counter(tuple(self.sensors()))  # health counts this pass
        s = self.settings
        rng = np.random.default_rng(s.seed)  # the lidar's noise: the same seed, the same scan
        pattern, lidar = Mid360Pattern.load(), LidarModel()
        for i in range(self.n_sweeps):
            t_a, t_b = i * SWEEP_PERIOD_S, (i + 1) * SWEEP_PERIOD_S
            sweep = simulate_sweep(
                pattern,
                lidar,
                self.trajectory.pose,
                self.raycaster,
                self.scene.albedo_at,
                t_a,
                SWEEP_PERIOD_S,
                rng,
                T0_NS,
                index=i,
                errors=s.realism.lidar,
                surface=self.scene.surface,
                actors=self.actors,
            )
            window = [Tagged(Sensor.lidar, sweep)]
            window += self._imu_window(self.imu, Sensor.imu, t_a, t_b)
            if self.external_imu is not None:
                window += self._imu_window(self.external_imu, Sensor.external_imu, t_a, t_b)
            ts = self.camera_times_s
            window += [Tagged(Sensor.camera, self._image(k)) for k in np.flatnonzero(
                (ts >= t_a) & (ts < t_b))]  # fmt: skip
            for tagged in sorted(window, key=lambda f: f.t_ns):
                yield self._counter.count(tagged)

    def _imu_window(self, imu, sensor: Sensor, t_a: float, t_b: float) -> list[Tagged]:
        """The samples taken in [t_a, t_b), stamped by the IMU's clock (late by the unit's
        offset)."""
        t0_ns = T0_NS + self.unit.imu_offset_ns
        return [
            Tagged(
                sensor,
                ImuSample(t0_ns + round(imu.t_s[k] * 1e9), imu.gyro_radps[k], imu.accel_mps2[k]),
            )
            for k in np.flatnonzero((imu.t_s >= t_a) & (imu.t_s < t_b))
        ]

    def _image(self, k: int) -> CameraFrame:
        """Image k: taken at camera_times_s[k] through the true extrinsic, stamped with
        camera_stamps_ns[k] (jittered)."""
        s, cam = self.settings, self.settings.camera
        t_s = self.camera_times_s[k]
        T_world_camera = self.trajectory.pose(np.array([t_s]))[0] @ self.unit.T_lidar_camera
        image = render(self.raycaster, self.scene, cam, T_world_camera)
        return CameraFrame(
            int(self.camera_stamps_ns[k]),
            encode_jpeg(image, exposure_s=s.exposure_s),
            cam.width,
            cam.height,
            s.exposure_s,
        )

    def health(self) -> dict[Sensor, SensorHealth]:
        return self._counter.health()

    def close(self) -> None:
        pass

    # --- what the twin's session says about its sensors --------------------------------------
    def calibration(self) -> Calibration:
        cam = self.settings.camera
        return Calibration(
            T_lidar_imu=T_LIDAR_IMU_MID360.tolist(),
            T_lidar_external_imu=T_LIDAR_EXTERNAL_IMU.tolist()
            if self.external_imu is not None
            else None,
            camera=CameraCalibration(
                width=cam.width,
                height=cam.height,
                model=cam.model,
                fx=cam.fx,
                fy=cam.fy,
                cx=cam.cx,
                cy=cam.cy,
                distortion=list(cam.k) if cam.model == "fisheye" else [],
                T_lidar_camera=T_LIDAR_CAMERA.tolist(),
            )
            if len(self.camera_times_s)
            else None,
        )

    def sensor_info(self) -> list[SensorInfo]:
        s, n = self.settings, self._counter.messages
        table = {  # sensor: (model, rate_hz)
            Sensor.lidar: ("Livox Mid-360 (twin)", 1 / SWEEP_PERIOD_S),
            Sensor.imu: ("ICM40609 in the Mid-360 (twin)", IMU_RATE_HZ),
            Sensor.external_imu: ("Xsens MTi (twin)", EXTERNAL_IMU_RATE_HZ),
            Sensor.camera: (f"{s.camera.model} camera (twin)", s.camera_rate_hz),
        }
        return [SensorInfo.of(x, *table[x], messages=n.get(x, 0)) for x in self.sensors()]
