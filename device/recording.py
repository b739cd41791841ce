"""A new session from the scanner's config: what the daemon's scans and `scanner record` share.

The session.json of every recording says the same things, whoever made it: the calibration of
every sensor that is on (the Mid-360's factory IMU extrinsic, the serial IMU's from the config,
the camera's), the sensor table, and the config it was recorded with. `record_live` records the
live sensors alone, with no daemon (`scanner record`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.config import ScannerConfig
from drivers.sessions.manifest import (
    MID360_T_LIDAR_IMU,
    Calibration,
    SensorInfo,
    SessionManifest,
)
from drivers.sessions.recorder import SessionRecorder
from drivers.source import Sensor, SensorHealth

log = logging.getLogger(__name__)


def session_calibration(cfg: ScannerConfig) -> Calibration:
    T_ext = cfg.imu.T_lidar_imu if cfg.imu.enabled else None
    camera = cfg.camera_calibration if cfg.camera.enabled else None
    return Calibration(T_lidar_imu=MID360_T_LIDAR_IMU, T_lidar_external_imu=T_ext, camera=camera)


def sensor_info(cfg: ScannerConfig) -> list[SensorInfo]:
    """The sensors that are on, as session.json lists them."""
    table = [  # (on, sensor, model, rate_hz)
        (cfg.lidar.enabled, Sensor.lidar, "Livox Mid-360", 1.0 / cfg.lidar.sweep_period_s),
        (cfg.lidar.enabled and cfg.lidar.imu_enabled, Sensor.imu, "Mid-360 built-in", 200.0),
        (cfg.imu.enabled, Sensor.external_imu, "Xsens MTi", 400.0),
        (cfg.camera.enabled, Sensor.camera, "USB camera", cfg.camera.rate_hz),
    ]
    return [SensorInfo.of(s, model, rate_hz) for on, s, model, rate_hz in table if on]


def slam_imu(cfg: ScannerConfig) -> tuple[Sensor, np.ndarray]:
    """The IMU live SLAM fuses, and its pose in the lidar frame ([4, 4]): the config's choice,
    or the Mid-360's own when the serial IMU it names is off or has no calibration."""
    if cfg.slam.imu_sensor == Sensor.external_imu:
        if cfg.imu.enabled and cfg.imu.T_lidar_imu is not None:
            return Sensor.external_imu, np.array(cfg.imu.T_lidar_imu)
        log.warning(
            "slam.imu = external needs imu.enabled and imu.T_lidar_imu: using the lidar's own IMU"
        )
    return Sensor.imu, np.array(MID360_T_LIDAR_IMU)


def new_session_recorder(cfg: ScannerConfig, session_dir: Path) -> SessionRecorder:
    """A recorder for a new session in `session_dir` (created; its name is the session's id)."""
    session_dir = Path(session_dir)
    return SessionRecorder(
        session_dir,
        session_dir.name,
        session_calibration(cfg),
        sensor_info(cfg),
        config_snapshot=cfg.model_dump(mode="json"),
        min_free_bytes=cfg.storage_reserve_mb * 1_000_000,
    )


@dataclass(frozen=True)
class LiveRecording:
    """A closed recording of the live sensors, and how each sensor did."""

    manifest: SessionManifest
    health: dict[Sensor, SensorHealth]


def record_live(
    cfg: ScannerConfig,
    session_dir: Path,
    duration_s: float | None = None,
    on_start: Callable[[list[str]], None] | None = None,
) -> LiveRecording:
    """Record the config's live sensors into a new session until `duration_s` seconds pass (no
    limit: None), the disk runs low, or Ctrl-C (KeyboardInterrupt, which stops it cleanly).
    `on_start` gets the running drivers' names once they are up. The session is closed whatever
    happens; an error other than Ctrl-C goes on up after that."""
    from drivers.hub import SensorHub

    recorder = new_session_recorder(cfg, session_dir)
    t_end = None if duration_s is None else time.monotonic() + duration_s
    hub = SensorHub(cfg.lidar, cfg.imu, cfg.camera)
    try:
        with hub:
            if on_start is not None:
                on_start(list(hub.drivers))
            while not (t_end is not None and time.monotonic() >= t_end or recorder.disk_low):
                if (tagged := hub.poll(timeout_s=0.2)) is not None:
                    recorder.write(tagged)
    except KeyboardInterrupt:
        pass
    finally:
        manifest = recorder.close()
    return LiveRecording(manifest, hub.health())
