"""Fixtures shared across the test packages."""

from __future__ import annotations

from pathlib import Path

import pytest

from drivers.sim.camera import CameraModel
from drivers.sim.generate import SimSettings, generate_session


@pytest.fixture(scope="session")
def twin_session(tmp_path_factory) -> Path:
    """A 6 s office walk with a serial IMU and a small camera (made once per test run)."""
    path = tmp_path_factory.mktemp("twin") / "office"
    generate_session(
        path,
        SimSettings(
            scene="office",
            seed=3,
            duration_s=6.0,
            camera_rate_hz=5.0,
            camera=CameraModel.from_hfov(90.0, 320, 180),
            external_imu=True,
        ),
    )
    return path


@pytest.fixture(scope="session")
def processed(twin_session, tmp_path_factory) -> Path:
    """That walk, processed: the coloured map and the trajectory in products/."""
    import shutil

    from device.config import ScannerConfig
    from device.processing import process_session

    path = tmp_path_factory.mktemp("processed") / "office"
    shutil.copytree(twin_session, path)
    process_session(path, ScannerConfig())
    return path
