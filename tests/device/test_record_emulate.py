"""A twin session played by the emulators, recorded through the real drivers, end to end."""

import time
from pathlib import Path

import pytest

from drivers.config import CameraConfig, ImuConfig, LidarConfig
from drivers.emulate import EmulateSettings, SessionEmulator
from drivers.hub import SensorHub
from drivers.sessions.manifest import MID360_T_LIDAR_IMU, Calibration, SessionState
from drivers.sessions.recorder import SessionRecorder
from drivers.sessions.replay import SessionSource
from drivers.sim.camera import CameraModel
from drivers.sim.generate import SimSettings, generate_session
from drivers.source import Sensor


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
            # the folder starts over at its end, as a camera streams on: a slow lidar must not
            # find the camera's 3 s of frames over and the camera reported gone
            CameraConfig(source=str(tmp_path / "camera"), rate_hz=10.0, loop=True),
        )
        with hub:
            # until enough of every sensor has come, not for a fixed time: a loaded CI
            # machine plays the emulators slower than real time
            wanted = {Sensor.lidar: 10, Sensor.imu: 300, Sensor.external_imu: 300}
            wanted[Sensor.camera] = 10
            seen = dict.fromkeys(Sensor, 0)
            t_end = time.monotonic() + 30.0
            for tagged in hub.frames(timeout_s=0.2):
                recorder.write(tagged)
                seen[tagged.sensor] += 1
                if all(seen[s] >= n for s, n in wanted.items()) or time.monotonic() > t_end:
                    break
            health = hub.health()
    manifest = recorder.close()
    assert manifest.state == SessionState.recorded
    st = manifest.stats
    assert st["lidar_sweeps"] >= 10 and st["lidar_points"] > 100_000
    assert st["imu_samples"] >= 2 * 300  # the Mid-360's own IMU and the serial one, 200 Hz each
    assert st["images"] >= 10
    assert set(health) == set(Sensor)  # the Mid-360's points and IMU, the serial IMU, the camera
    unhealthy = {s: h for s, h in health.items() if not (h.connected and h.messages > 0)}
    assert not unhealthy, unhealthy
    assert all(h.errors == 0 for h in health.values()), hub.status()
    # what was recorded replays as the same frames of the same sensors, in SI units, on the
    # host clock
    frames = list(SessionSource(tmp_path / "rec").frames())
    by = {s: [t.frame for t in frames if t.sensor == s] for s in Sensor}
    for imu in (Sensor.imu, Sensor.external_imu):
        assert all(9.0 < float((f.accel_mps2**2).sum()) ** 0.5 < 10.6 for f in by[imu][:100])
    assert all(f.point_dt_s.max() < 0.11 for f in by[Sensor.lidar])
    assert by[Sensor.camera]


def test_scanner_record_writes_a_session_that_slam_and_colour_can_use(twin, tmp_path):
    """`scanner record` and the daemon write the same session.json: every sensor that is on,
    with its calibration (so the serial IMU can feed SLAM and the camera colour the map)."""
    import json

    from typer.testing import CliRunner

    from device.cli import app
    from drivers.sessions.manifest import read_manifest

    lidar_ip, host_ip = "127.0.0.73", "127.0.0.74"
    settings = EmulateSettings(lidar_ip, host_ip, tmp_path / "imu", tmp_path / "camera", rate=1.0)
    cal = read_manifest(twin).calibration
    config = tmp_path / "scanner.toml"
    config.write_text(
        f"storage_reserve_mb = 0\n[imu]\nT_lidar_imu = {json.dumps(cal.T_lidar_imu)}\n"
        f"[camera_calibration]\n"
        + "".join(
            f"{k} = {json.dumps(v)}\n" for k, v in cal.camera.model_dump().items() if v is not None
        )
    )
    out = tmp_path / "rec"
    with SessionEmulator(twin, settings):
        result = CliRunner().invoke(
            app,
            [
                "record", "--out", str(out), "--duration", "2.5", "--config", str(config),
                "--lidar-ip", lidar_ip, "--host-ip", host_ip,
                "--imu-port", str(tmp_path / "imu"), "--camera", str(tmp_path / "camera"),
            ],
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    m = read_manifest(out)
    assert m.state == SessionState.recorded
    assert {s.name for s in m.sensors} == {s.value for s in Sensor}
    assert m.calibration.T_lidar_imu == MID360_T_LIDAR_IMU
    assert m.calibration.T_lidar_external_imu == cal.T_lidar_imu  # the config's
    assert m.calibration.camera == cal.camera
    assert m.clock is not None and abs(m.clock.utc_offset_s - (time.time() - time.monotonic())) < 1
