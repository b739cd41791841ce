"""`scanner sim generate`: record the digital twin into a session, with ground truth.

The twin is a virtual device (`TwinSource`): its frames go into raw.mcap through the same writer
as the device's, and session.json describes its sensors and calibration as a device's would.
What only a twin knows goes beside them: ground_truth.tum (the true lidar pose at 200 Hz),
scene.ply (the true mesh), twin_truth.json (the unit's true extrinsics, clock offset and IMU
errors, which session.json gives only nominally, as a real unit's would) and, where the scene
has surveyed markers, markers.csv (name, x, y, z in the twin's world frame), and the control
points an operator would mark on the way: marks.jsonl (as the device writes it) and
control.csv (their surveyed coordinates in a projected CRS: `write_control`).

Everything streams: each sweep goes to raw.mcap as it is simulated, so a 30-minute campus
session never sits in memory.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from drivers.sessions.manifest import (
    GROUND_TRUTH,
    RECORDING,
    SCENE_MESH,
    ClockPair,
    SessionManifest,
    SessionState,
    write_manifest,
)
from drivers.sessions.marks import CONTROL_CSV, REFERENCE_POINT_LIDAR_M, Mark, append_mark
from drivers.sessions.recording import RecordingWriter
from drivers.sessions.trajectory import write_tum
from drivers.sim.scenes.scene import write_scene_ply
from drivers.sim.twin import T0_NS, SimSettings, TwinSource
from drivers.source import Sensor

log = logging.getLogger(__name__)

GROUND_TRUTH_RATE_HZ = 200.0
TWIN_TRUTH = "twin_truth.json"
MARKERS = "markers.csv"
CONTROL = CONTROL_CSV
# the twin's world in a projected CRS: ETRS89 / UTM 32N with a false origin (E, N, H)
CONTROL_EPSG, CONTROL_ORIGIN_M = 25832, (500_000.0, 5_700_000.0, 100.0)
MARK_REACH_M = 15.0  # a marker this close to the walk is one the operator marks in passing


def sim_settings(
    out_dir: Path,
    *,
    scene: str = "office",
    seed: int = 0,
    duration_s: float = 60.0,
    motion: str = "walk",
    camera_rate_hz: float = 10.0,
    external_imu: bool = False,
    camera_model: str = "pinhole",
    camera_size: str = "1280x720",
    camera_fov_deg: float = 90.0,
    realism: str = "ideal",
    errors: dict[str, str] | None = None,
    start_m: float = 0.0,
    scene_seed: int | None = None,
) -> SimSettings:
    """The twin's settings for a new session in `out_dir` (absent or an empty folder), the
    camera given as a model, a WIDTHxHEIGHT size and a horizontal field of view. Raises
    ValueError, saying why, for an unknown scene or motion, a used folder or a bad camera."""
    from drivers.sim.camera import CameraModel
    from drivers.sim.motion import PROFILES
    from drivers.sim.realism import realism_profile
    from drivers.sim.scenes.catalog import SCENE_NAMES

    if scene not in SCENE_NAMES:
        raise ValueError(f"unknown scene {scene!r}; choose one of {', '.join(SCENE_NAMES)}")
    if motion not in PROFILES:
        raise ValueError(f"unknown motion {motion!r}; choose one of {', '.join(PROFILES)}")
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise ValueError(f"{out_dir}: exists and is not an empty folder")
    if camera_model == "pinhole" and camera_fov_deg >= 170:
        raise ValueError("a pinhole camera needs a field of view under 170 degrees; try fisheye")
    try:
        width, height = (int(x) for x in camera_size.lower().split("x"))
        camera = CameraModel.from_hfov(camera_fov_deg, width, height, camera_model)
    except ValueError as exc:
        raise ValueError(f"bad camera settings ({camera_size}, {camera_model}): {exc}") from None
    profile = realism_profile(realism).with_overrides(errors or {})
    return SimSettings(
        scene=scene,
        seed=seed,
        duration_s=duration_s,
        motion=motion,
        start_m=start_m,
        scene_seed=scene_seed,
        camera_rate_hz=camera_rate_hz,
        camera=camera,
        external_imu=external_imu,
        realism=profile,
    )


def generate_session(
    out_dir: Path, settings: SimSettings, progress: Callable[[float], None] | None = None
) -> SessionManifest:
    """Simulate and write a whole session into out_dir (created; must be empty if it exists)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir}: not empty; choose a new folder for the session")
    twin = TwinSource(settings)
    points = 0
    with RecordingWriter(out_dir / RECORDING) as rec:
        if len(twin.camera_times_s):
            rec.write_camera_info(T0_NS, settings.camera.camera_info())
        for tagged in twin.frames():
            rec.write(tagged)
            if tagged.sensor == Sensor.lidar:
                points += len(tagged.frame)
                if progress:
                    progress((tagged.frame.index + 1) / twin.n_sweeps)
    n = {sensor: h.messages for sensor, h in twin.health().items()}

    t_gt = np.arange(0.0, settings.duration_s, 1.0 / GROUND_TRUTH_RATE_HZ)
    write_tum(out_dir / GROUND_TRUTH, T0_NS * 1e-9 + t_gt, twin.trajectory.pose(t_gt))
    write_scene_ply(twin.scene, out_dir / SCENE_MESH)
    _write_twin_truth(out_dir, twin)
    if twin.scene.markers:
        names, t_mark = marker_passes(
            [m.name for m in twin.scene.markers],
            np.array([m.xyz_m for m in twin.scene.markers]),
            t_gt,
            twin.trajectory.pose(t_gt)[:, :3, 3],
        )
        write_control(out_dir, names, T0_NS * 1e-9 + t_mark, twin.trajectory.pose(t_mark))

    manifest = SessionManifest(
        id=f"sim-{settings.scene}-{settings.motion}-s{settings.seed}",
        state=SessionState.recorded,
        created_utc=datetime.fromtimestamp(T0_NS * 1e-9, UTC).isoformat(timespec="seconds"),
        source="digital-twin",
        start_ns=T0_NS,
        end_ns=T0_NS + int(round(settings.duration_s * 1e9)),
        sensors=twin.sensor_info(),
        calibration=twin.calibration(),
        clock=ClockPair(host_ns=T0_NS, utc_ns=T0_NS),  # the twin's clock is UTC
        config={
            "sim": {
                "scene": settings.scene,
                "seed": settings.seed,
                "scene_seed": settings.seed if settings.scene_seed is None else settings.scene_seed,
                "start_m": settings.start_m,
                "motion": settings.motion,
                "duration_s": settings.duration_s,
                "camera_rate_hz": settings.camera_rate_hz,
                "exposure_s": settings.exposure_s,
                "realism": settings.realism.to_dict(),
            }
        },
        stats={
            "lidar_points": points,
            "lidar_sweeps": n[Sensor.lidar],
            "imu_samples": n[Sensor.imu],
            "images": n.get(Sensor.camera, 0),
            "external_imu_samples": n.get(Sensor.external_imu, 0),
        },
    )
    write_manifest(out_dir, manifest)
    return manifest


def _write_twin_truth(out_dir: Path, twin: TwinSource) -> None:
    """What a real unit's session cannot know: its true calibration and errors, and the
    surveyed markers' true coordinates."""
    from drivers.sim.imu import unit_errors

    truth = {
        "realism": twin.settings.realism.to_dict(),
        "unit": twin.unit.to_dict(),
        "imu_errors": unit_errors(twin.settings.realism.imu, twin.settings.seed).to_dict(),
        "markers": [{"name": m.name, "xyz_m": list(m.xyz_m)} for m in twin.scene.markers],
    }
    (out_dir / TWIN_TRUTH).write_text(json.dumps(truth, indent=1))
    if twin.scene.markers:
        lines = ["name,x_m,y_m,z_m"]
        lines += [f"{m.name},{m.xyz_m[0]:.4f},{m.xyz_m[1]:.4f},{m.xyz_m[2]:.4f}"
                  for m in twin.scene.markers]  # fmt: skip
        (out_dir / MARKERS).write_text("\n".join(lines) + "\n")


def marker_passes(
    names: list[str],
    markers_xyz_m: np.ndarray,  # [M, 3]
    t_s: np.ndarray,  # [N] the walk's times
    walk_xyz_m: np.ndarray,  # [N, 3] the lidar's true positions
    reach_m: float = MARK_REACH_M,
    settle_s: float = 2.0,
) -> tuple[list[str], np.ndarray]:  # -> names [K], times [K]
    """The markers the walk passes within reach_m (after the filter's first settle_s), each
    with the time of its first closest approach: where the twin's operator marks it."""
    out_names, out_t = [], []
    ok = t_s >= t_s[0] + settle_s
    for name, p in zip(names, markers_xyz_m, strict=True):
        d = np.linalg.norm(walk_xyz_m[:, :2] - p[:2], axis=1)  # [N]
        near = ok & (d < reach_m)
        if not near.any():
            continue
        first = np.flatnonzero(near)[0]  # the first pass: its closest approach
        run_end = first + np.argmax(~near[first:]) if (~near[first:]).any() else len(d)
        k = first + int(np.argmin(d[first:run_end]))
        out_names.append(name)
        out_t.append(t_s[k])
    return out_names, np.array(out_t)


def write_control(
    out_dir: Path,
    names: list[str],
    t_s: np.ndarray,  # [K] on the recording's clock
    T_world_lidar: np.ndarray,  # [K, 4, 4] the true poses then
    reference_point_lidar_m: tuple[float, float, float] = REFERENCE_POINT_LIDAR_M,
) -> None:
    """The operator's marks (marks.jsonl, as the device writes them) and the surveyed control
    points under the reference point then (control.csv, in CONTROL_EPSG: the truth, moved by
    CONTROL_ORIGIN_M)."""
    ref = np.array(reference_point_lidar_m)
    lines = ["name,easting,northing,height,epsg"]
    for name, t, T in zip(names, t_s, T_world_lidar, strict=True):
        append_mark(out_dir, Mark(name, int(round(t * 1e9)), reference_point_lidar_m, "twin"))
        e, n, h = T[:3, :3] @ ref + T[:3, 3] + np.array(CONTROL_ORIGIN_M)
        lines.append(f"{name},{e:.4f},{n:.4f},{h:.4f},{CONTROL_EPSG}")
    (out_dir / CONTROL).write_text("\n".join(lines) + "\n")
