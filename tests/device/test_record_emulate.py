"""A twin session played by the emulators, recorded through the real drivers, end to end."""

import time
from pathlib import Path

import pytest

from device.sensors import SensorHub
from device.sessions import rosmsg
from device.sessions.manifest import Calibration, SessionState
from device.sessions.recorder import SessionRecorder
from device.sessions.replay import MID360_T_LIDAR_IMU, SessionSource
from drivers.config import CameraConfig, ImuConfig, LidarConfig
from drivers.emulate import EmulateSettings, SessionEmulator
from drivers.frames import CameraFrame, ImuSample, LidarSweep
from drivers.sim.camera import CameraModel
from drivers.sim.generate import SimSettings, generate_session


@pytest.fixture(scope="module")
def twin(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("emu") / "twin"
    generate_session(
        path,
        SimSettings(
            scene="office",
            seed=4,
            duration_s=3.0,
            camera_rate_hz=10.0,
            camera=CameraModel.from_hfov(90.0, 320, 180),
        ),
    )
    return path


def test_emulated_sensors_record_through_the_real_drivers(twin, tmp_path):
    lidar_ip, host_ip = "127.0.0.71", "127.0.0.72"
    settings = EmulateSettings(lidar_ip, host_ip, tmp_path / "imu", tmp_path / "camera", rate=1.0)
    recorder = SessionRecorder(
        tmp_path / "rec", "rec", Calibration(T_lidar_imu=MID360_T_LIDAR_IMU), []
    )
    with SessionEmulator(twin, settings):
        hub = SensorHub(
            LidarConfig(lidar_ip=lidar_ip, host_ip=host_ip),
            ImuConfig(enabled=True, port=tmp_path / "imu"),
            CameraConfig(source=str(tmp_path / "camera"), rate_hz=10.0),
        )
        with hub:
            t_end = time.monotonic() + 2.5
            for tagged in hub.frames(timeout_s=0.2):
                if time.monotonic() > t_end:
                    break
                if tagged is not None:
                    recorder.write(tagged.frame, external_imu=tagged.sensor == "external_imu")
            status = hub.status()
    manifest = recorder.close()
    assert manifest.state == SessionState.recorded
    st = manifest.stats
    assert st["lidar_sweeps"] >= 10 and st["lidar_points"] > 100_000
    assert st["imu_samples"] >= 2 * 300  # the Mid-360's own IMU and the serial one, 200 Hz each
    assert st["images"] >= 10
    assert status["lidar"].errors.total == 0 and status["external_imu"].checksum_errors == 0
    # what was recorded replays as the same kinds of frames, in SI units, on the host clock
    frames = list(
        SessionSource(
            tmp_path / "rec",
            topics=(
                rosmsg.LIDAR_TOPIC,
                rosmsg.IMU_TOPIC,
                rosmsg.EXTERNAL_IMU_TOPIC,
                rosmsg.IMAGE_TOPIC,
            ),
        )
    )
    sweeps = [f for f in frames if isinstance(f, LidarSweep)]
    imus = [f for f in frames if isinstance(f, ImuSample)]
    assert all(9.0 < float((f.accel_mps2**2).sum()) ** 0.5 < 10.6 for f in imus[:100])
    assert all(f.point_dt_s.max() < 0.11 for f in sweeps)
    assert any(isinstance(f, CameraFrame) for f in frames)
