"""`scanner demo`: the daemon fed by the digital twin, through the real drivers, on loopback.

    twin session (cached) ──► `scanner emulate --loop` (a process of its own: Mid-360 over UDP,
    Xsens over a pseudo-terminal, camera images in a folder) ──► the daemon's real drivers

Only the sensor addresses in the config differ from a scanner in the field.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from device.config import ApiConfig, ScannerConfig
from device.workers import dies_with_this_process
from drivers.config import CameraConfig, ImuConfig, LidarConfig
from drivers.emulate import EmulateSettings
from drivers.sessions.manifest import read_manifest
from splat.config import SplatConfig

log = logging.getLogger(__name__)

LIDAR_IP, HOST_IP = "127.0.0.2", "127.0.0.1"
DEMO_SECONDS = 40.0


def twin_session(cache: Path, scene: str, seed: int = 0, progress: Callable | None = None) -> Path:
    """The twin's walk through `scene`, made once and kept (about a minute to make)."""
    from drivers.sim.camera import CameraModel
    from drivers.sim.generate import SimSettings, generate_session

    path = cache / f"{scene}-walk-{DEMO_SECONDS:.0f}s-seed{seed}"
    if (path / "session.json").is_file() and read_manifest(path).state.value == "recorded":
        return path
    if path.exists():
        import shutil

        shutil.rmtree(path)
    cache.mkdir(parents=True, exist_ok=True)
    settings = SimSettings(
        scene=scene,
        seed=seed,
        duration_s=DEMO_SECONDS,
        motion="walk",
        camera_rate_hz=5.0,
        camera=CameraModel.from_hfov(90.0, 640, 360),
        external_imu=True,
    )
    generate_session(path, settings, progress)
    return path


class EmulatorProcess:
    """`scanner emulate SESSION --loop` as a child process, stopped with the demo."""

    def __init__(self, session: Path, run_dir: Path) -> None:
        self.settings = s = EmulateSettings(
            LIDAR_IP, HOST_IP, run_dir / "imu", run_dir / "camera", loop=True
        )
        self.imu_link, self.camera_dir = s.imu_link, s.camera_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        self.imu_link.unlink(missing_ok=True)
        cmd = [
            sys.executable, "-c", "from device.cli import app; app()", "emulate", str(session),
            "--lidar-ip", s.lidar_ip, "--host-ip", s.host_ip, "--imu-link", str(s.imu_link),
            "--camera-dir", str(s.camera_dir), "--loop",
        ]  # fmt: skip
        # its own session (Ctrl-C reaches the daemon, which stops it), but never outliving us
        self.proc = subprocess.Popen(
            cmd, start_new_session=True, preexec_fn=dies_with_this_process()
        )

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not (self.imu_link.exists() and self.camera_dir.is_dir()):
            if self.proc.poll() is not None:
                raise RuntimeError(f"the emulator exited ({self.proc.returncode})")
            if time.monotonic() > deadline:
                raise RuntimeError("the emulator did not come up")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(5.0)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5.0)


def demo_config(
    session: Path,
    emulated: EmulateSettings,
    data_dir: Path,
    port: int,
    storage_reserve_mb: int = 200,
    splat: SplatConfig | None = None,
) -> ScannerConfig:
    """The scanner's config with the emulators' addresses in place of the hardware's, and the
    twin's calibration in place of the factory's."""
    cal = read_manifest(session).calibration
    return ScannerConfig(
        data_dir=data_dir,
        storage_reserve_mb=storage_reserve_mb,
        lidar=LidarConfig(lidar_ip=emulated.lidar_ip, host_ip=emulated.host_ip),
        imu=ImuConfig(enabled=True, port=emulated.imu_link, T_lidar_imu=cal.T_lidar_external_imu),
        camera=CameraConfig(source=str(emulated.camera_dir), rate_hz=5.0, loop=True),
        camera_calibration=cal.camera,
        api=ApiConfig(host="127.0.0.1", port=port),
        shutdown_command=[],
        splat=splat or SplatConfig(),
    )


# A splat after each demo scan, and during it on a GPU, as the device would; on a CPU a small
# one after it (80x45 keyframes, the map thinned to 0.25 m): it shows the feature, not quality
DEMO_SPLAT_GPU = SplatConfig(enabled=True, iterations=3000, online=True)
DEMO_SPLAT_CPU = SplatConfig(
    enabled=True,
    iterations=200,
    device="cpu",
    image_scale=0.125,
    map_voxel_m=0.25,
    align_steps=0,  # on the CPU each step of it costs a training step, for every held-out view
    blind_zone=False,  # SIFT on every full-size keyframe: a minute of this CPU, for 200 iterations
)


def demo_splat() -> SplatConfig:
    """The demo's splat settings for this machine: DEMO_SPLAT_GPU with CUDA, else DEMO_SPLAT_CPU."""
    import torch

    return DEMO_SPLAT_GPU if torch.cuda.is_available() else DEMO_SPLAT_CPU
