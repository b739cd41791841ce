"""`scanner sim generate`: write a digital-twin session with ground truth.

The twin is a virtual device: it produces the same frames the real drivers do and writes them
into the session format (raw.mcap, session.json), plus what only a twin knows:
ground_truth.tum (the true lidar pose at 200 Hz) and scene.ply (the true mesh).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from device.sessions import rosmsg
from device.sessions.manifest import (
    GROUND_TRUTH,
    RECORDING,
    SCENE_MESH,
    Calibration,
    CameraCalibration,
    SensorInfo,
    SessionManifest,
    SessionState,
    write_manifest,
)
from device.sessions.recording import RecordingWriter
from drivers.frames import CameraFrame, ImuSample
from drivers.sim.camera import CameraModel, encode_jpeg, render
from drivers.sim.imu import EXTERNAL_IMU, ICM40609, T_LIDAR_IMU_MID360, simulate_imu
from drivers.sim.lidar import LidarModel, Mid360Pattern, simulate_sweep
from drivers.sim.motion import make_trajectory
from drivers.sim.scenes import Raycaster, make_scene, write_scene_ply
from slam.trajectory_io import write_tum

log = logging.getLogger(__name__)

T0_NS = 1_767_225_600 * 1_000_000_000  # the twin's clock starts at 2026-01-01T00:00:00Z
SWEEP_PERIOD_S = 0.1
EXTERNAL_IMU_RATE_HZ = 400.0
# the serial IMU sits under the lidar on the handle, turned 180 degrees about z
T_LIDAR_EXTERNAL_IMU = np.array(
    [[-1.0, 0.0, 0.0, 0.02], [0.0, -1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -0.12], [0.0, 0.0, 0.0, 1.0]]
)
IMU_RATE_HZ = 200.0
GROUND_TRUTH_RATE_HZ = 200.0

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
    camera_rate_hz: float = 10.0  # 0 turns the camera off
    external_imu: bool = False  # also an Xsens-class serial IMU, 400 Hz, on /xsens/imu
    camera: CameraModel = CameraModel()
    exposure_s: float = 0.005


def generate_session(
    out_dir: Path, settings: SimSettings, progress: Callable[[float], None] | None = None
) -> SessionManifest:
    """Simulate and write a whole session into out_dir (created; must be empty if it exists)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: not empty; choose a new folder for the session")
    rng = np.random.default_rng(settings.seed)
    scene = make_scene(settings.scene, settings.seed)
    raycaster = Raycaster(scene)
    traj = make_trajectory(scene.walk_path, settings.motion, settings.duration_s, settings.seed)
    pattern, lidar = Mid360Pattern.load(), LidarModel()
    imu = simulate_imu(
        traj, T_LIDAR_IMU_MID360, settings.duration_s, IMU_RATE_HZ, ICM40609, settings.seed
    )
    ext = (
        simulate_imu(
            traj,
            T_LIDAR_EXTERNAL_IMU,
            settings.duration_s,
            EXTERNAL_IMU_RATE_HZ,
            EXTERNAL_IMU,
            settings.seed + 1,
        )
        if settings.external_imu
        else None
    )
    cam = settings.camera
    n_sweeps = int(round(settings.duration_s / SWEEP_PERIOD_S))
    cam_times = (
        np.arange(0.0, settings.duration_s, 1.0 / settings.camera_rate_hz)
        if settings.camera_rate_hz > 0
        else np.zeros(0)
    )

    stats = {"lidar_points": 0, "lidar_sweeps": 0, "imu_samples": 0, "images": 0}
    with RecordingWriter(out_dir / RECORDING) as rec:
        if len(cam_times):
            rec.write_camera_info(T0_NS, cam.camera_info())
        for i in range(n_sweeps):
            t_a, t_b = i * SWEEP_PERIOD_S, (i + 1) * SWEEP_PERIOD_S
            messages: list[tuple[int, Callable[[], None]]] = []
            sweep = simulate_sweep(
                pattern,
                lidar,
                traj.pose,
                raycaster,
                scene.albedo_at,
                t_a,
                SWEEP_PERIOD_S,
                rng,
                T0_NS,
                index=i,
            )
            messages.append((sweep.t_ns, lambda s=sweep: rec.write_sweep(s)))
            stats["lidar_points"] += len(sweep)
            for k in np.flatnonzero((imu.t_s >= t_a) & (imu.t_s < t_b)):
                sample = ImuSample(
                    T0_NS + int(round(imu.t_s[k] * 1e9)), imu.gyro_radps[k], imu.accel_mps2[k]
                )
                messages.append((sample.t_ns, lambda s=sample: rec.write_imu(s)))
            if ext is not None:
                for k in np.flatnonzero((ext.t_s >= t_a) & (ext.t_s < t_b)):
                    sample = ImuSample(
                        T0_NS + int(round(ext.t_s[k] * 1e9)), ext.gyro_radps[k], ext.accel_mps2[k]
                    )
                    messages.append(
                        (sample.t_ns, lambda s=sample: rec.write_imu(s, rosmsg.EXTERNAL_IMU_TOPIC))
                    )
            for t_c in cam_times[(cam_times >= t_a) & (cam_times < t_b)]:
                T_world_camera = traj.pose(np.array([t_c]))[0] @ T_LIDAR_CAMERA
                image = render(raycaster, scene, cam, T_world_camera)
                frame = CameraFrame(
                    T0_NS + int(round(t_c * 1e9)),
                    encode_jpeg(image, exposure_s=settings.exposure_s),
                    cam.width,
                    cam.height,
                    settings.exposure_s,
                )
                messages.append((frame.t_ns, lambda f=frame: rec.write_image(f)))
            for _, write in sorted(messages, key=lambda m: m[0]):
                write()
            if progress:
                progress((i + 1) / n_sweeps)
        stats.update(
            lidar_sweeps=n_sweeps,
            imu_samples=len(imu.t_s),
            images=len(cam_times),
            external_imu_samples=0 if ext is None else len(ext.t_s),
        )

    t_gt = np.arange(0.0, settings.duration_s, 1.0 / GROUND_TRUTH_RATE_HZ)
    write_tum(out_dir / GROUND_TRUTH, T0_NS * 1e-9 + t_gt, traj.pose(t_gt))
    write_scene_ply(scene, out_dir / SCENE_MESH)

    manifest = SessionManifest(
        id=f"sim-{settings.scene}-{settings.motion}-s{settings.seed}",
        state=SessionState.recorded,
        created_utc=datetime.fromtimestamp(T0_NS * 1e-9, UTC).isoformat(timespec="seconds"),
        source="digital-twin",
        start_ns=T0_NS,
        end_ns=T0_NS + int(round(settings.duration_s * 1e9)),
        sensors=[
            SensorInfo(
                name="lidar",
                model="Livox Mid-360 (twin)",
                topic=rosmsg.LIDAR_TOPIC,
                rate_hz=1 / SWEEP_PERIOD_S,
                frame_id=rosmsg.LIDAR_FRAME_ID,
                messages=n_sweeps,
            ),
            SensorInfo(
                name="imu",
                model="ICM40609 in the Mid-360 (twin)",
                topic=rosmsg.IMU_TOPIC,
                rate_hz=IMU_RATE_HZ,
                frame_id=rosmsg.IMU_FRAME_ID,
                messages=len(imu.t_s),
            ),
        ]
        + (
            [
                SensorInfo(
                    name="camera",
                    model=f"{cam.model} camera (twin)",
                    topic=rosmsg.IMAGE_TOPIC,
                    rate_hz=settings.camera_rate_hz,
                    frame_id=rosmsg.CAMERA_FRAME_ID,
                    messages=len(cam_times),
                )
            ]
            if len(cam_times)
            else []
        ),
        calibration=Calibration(
            T_lidar_imu=T_LIDAR_IMU_MID360.tolist(),
            T_lidar_external_imu=T_LIDAR_EXTERNAL_IMU.tolist() if ext is not None else None,
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
            if len(cam_times)
            else None,
        ),
        config={
            "sim": {
                "scene": settings.scene,
                "seed": settings.seed,
                "motion": settings.motion,
                "duration_s": settings.duration_s,
                "camera_rate_hz": settings.camera_rate_hz,
                "exposure_s": settings.exposure_s,
            }
        },
        stats=stats,
    )
    write_manifest(out_dir, manifest)
    return manifest
