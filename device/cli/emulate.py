"""`scanner emulate`: play a session as live sensors speaking their real protocols."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import fail


def emulate(
    session: Annotated[Path, typer.Argument(help="a session folder (from the twin or recorded)")],
    lidar_ip: Annotated[str, typer.Option("--lidar-ip")] = "127.0.0.2",
    host_ip: Annotated[str, typer.Option("--host-ip")] = "127.0.0.1",
    imu_link: Annotated[
        Path | None, typer.Option("--imu-link", help="symlink to an emulated Xsens serial port")
    ] = None,
    camera_dir: Annotated[
        Path | None, typer.Option("--camera-dir", help="folder to lay the camera images out in")
    ] = None,
    rate: Annotated[float, typer.Option("--rate", min=0.0, help="x real time; 0 = flat out")] = 1.0,
    loop: Annotated[bool, typer.Option("--loop", help="play again and again")] = False,
) -> None:
    """Play a session as a live Mid-360 (UDP), a serial IMU (pseudo-terminal) and a camera."""
    from drivers.emulate import EmulateSettings, SessionEmulator, check_emulation

    settings = EmulateSettings(lidar_ip, host_ip, imu_link, camera_dir, rate, loop)
    try:
        check_emulation(session, settings)
    except ValueError as exc:
        raise fail(str(exc)) from None
    try:
        emulator = SessionEmulator(session, settings)
    except OSError as exc:
        raise fail(f"cannot start the emulators: {exc}") from None
    try:
        emulator.start()
    except OSError as exc:
        emulator.stop()
        raise fail(f"cannot start the emulators: {exc} (is another emulator running?)") from None
    try:
        typer.echo(
            f"Mid-360 on {lidar_ip} (host {host_ip})"
            + (f", Xsens on {imu_link}" if imu_link else "")
            + (f", {emulator.n_images} camera images in {camera_dir}" if camera_dir else "")
            + f"; rate x{rate:g}{', looping' if loop else ''}. Ctrl-C stops.",
            err=True,
        )
        with contextlib.suppress(KeyboardInterrupt):
            emulator.wait()
    finally:
        emulator.stop()
