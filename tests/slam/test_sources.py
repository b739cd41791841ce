"""One engine, every source: the digital twin, the session it recorded, the same session played
through the emulators and read live by the real Mid-360 driver, and a folder of scans. The
engine code is the same line for all of them: `run_engine(engine, source.frames())`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pytest

from drivers.config import CameraConfig, ImuConfig, LidarConfig
from drivers.emulate import EmulateSettings, SessionEmulator
from drivers.hub import SensorHub
from drivers.scan_folder import ScanFolderSource
from drivers.sessions.manifest import MID360_T_LIDAR_IMU
from drivers.sessions.replay import SessionSource
from drivers.sim.generate import generate_session
from drivers.sim.twin import T0_NS, SimSettings, TwinSource
from drivers.source import Sensor, Tagged
from slam.config import OdometryConfig
from slam.engine import SlamEngine
from slam.metrics import ate_rmse
from slam.pipeline import SlamRun, run_engine

SETTINGS = SimSettings(scene="office", seed=5, duration_s=4.0, camera_rate_hz=0.0)
N_SWEEPS = 40


def slam(frames: Iterable[Tagged], inertial: bool = True) -> SlamRun:
    """The engine code every source's frames go through."""
    engine = SlamEngine(OdometryConfig(), np.array(MID360_T_LIDAR_IMU) if inertial else None)
    return run_engine(engine, frames, map_voxel_m=None)


@pytest.fixture(scope="module")
def twin() -> TwinSource:
    return TwinSource(SETTINGS)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    path = tmp_path_factory.mktemp("sources") / "office"
    generate_session(path, SETTINGS)
    return path


def truth(twin: TwinSource, offset_ns: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The true lidar poses at 200 Hz, on the twin's clock moved by offset_ns."""
    t_s = np.arange(0.0, SETTINGS.duration_s, 0.005)
    return (T0_NS + offset_ns) * 1e-9 + t_s, twin.trajectory.pose(t_s)


def test_the_twin_and_its_recording_give_one_trajectory(twin, session):
    replay = SessionSource(session)
    simulated = slam(twin.frames())
    replayed = slam(replay.frames())
    assert len(simulated.t_s) == len(replayed.t_s) >= N_SWEEPS - 12  # the filter starts after 1 s
    np.testing.assert_allclose(simulated.t_s, replayed.t_s, rtol=0, atol=1e-6)
    # the recording keeps points as float32 (livox_ros_driver2's layout): the same within a mm
    gap = np.linalg.norm(
        simulated.T_world_lidar[:, :3, 3] - replayed.T_world_lidar[:, :3, 3], axis=1
    )
    assert gap.max() < 0.002
    assert ate_rmse(simulated.t_s, simulated.T_world_lidar, *truth(twin)).rmse_m < 0.02  # 6.3 mm
    for source in (twin, replay):
        assert source.health()[Sensor.lidar].messages == N_SWEEPS


def test_a_repeated_or_late_sweep_is_dropped_and_counted(twin):
    """A sweep that ends at or before the last one (a repeat from the network, a clock step)
    would make the filter propagate backwards: it is dropped, counted, and the poses' times
    stay strictly increasing."""
    frames = list(twin.frames())
    sweeps = [i for i, f in enumerate(frames) if f.sensor == Sensor.lidar]
    again = [
        *frames[: sweeps[20] + 1],
        frames[sweeps[20]],
        frames[sweeps[10]],
        *frames[sweeps[20] + 1 :],
    ]
    engine = SlamEngine(OdometryConfig(), np.array(MID360_T_LIDAR_IMU))
    run = run_engine(engine, again, map_voxel_m=None)
    assert engine.stats.out_of_order == 2
    assert np.all(np.diff(run.t_s) > 0)
    np.testing.assert_allclose(run.t_s, slam(frames).t_s)


def test_the_emulated_sensors_read_live_through_the_real_driver(twin, session):
    settings = EmulateSettings("127.0.0.61", "127.0.0.62", rate=1.0)
    hub = SensorHub(
        LidarConfig(lidar_ip=settings.lidar_ip, host_ip=settings.host_ip),
        ImuConfig(enabled=False),
        CameraConfig(enabled=False),
    )
    with SessionEmulator(session, settings) as emulator, hub:
        run = slam(hub.frames(timeout_s=1.0))  # ends once the emulator has played it all
        health = hub.health()
        # host time = twin time + (lidar - twin, the emulator's) + (host - lidar, the driver's)
        offset_ns = (
            emulator.lidar.lidar_time_offset_ns + hub.drivers["lidar"].status().clock_offset_ns
        )
    assert health[Sensor.lidar].messages >= N_SWEEPS - 2 and health[Sensor.imu].messages > 700
    assert len(run.t_s) >= N_SWEEPS - 14
    assert ate_rmse(run.t_s, run.T_world_lidar, *truth(twin, offset_ns)).rmse_m < 0.02  # 6.6 mm


def test_a_folder_of_scans_lidar_only(twin, session, tmp_path):
    times = []
    for i, tagged in enumerate(SessionSource(session, sensors=(Sensor.lidar,)).frames()):
        sweep = tagged.frame
        np.save(tmp_path / f"{i:06d}.npy", np.column_stack([sweep.xyz_m, sweep.intensity]))
        times.append(sweep.t_s)
    (tmp_path / "times.txt").write_text("".join(f"{t:.9f}\n" for t in times))
    folder = ScanFolderSource(tmp_path)
    run = slam(folder.frames(), inertial=False)
    assert len(run.t_s) == N_SWEEPS and folder.health()[Sensor.lidar].messages == N_SWEEPS
    # no per-point times in .npy: each scan is taken as one instant (lidar-only, no deskew)
    assert ate_rmse(run.t_s, run.T_world_lidar, *truth(twin)).rmse_m < 0.03  # 4.4 mm
