"""`scanner record`: the live sensors into a session, with no processing."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, scanner_config


def record(
    out: Annotated[Path, typer.Option("--out", help="session folder to create")],
    duration: Annotated[
        float | None, typer.Option("--duration", min=0.1, help="seconds; default: until Ctrl-C")
    ] = None,
    config: ConfigOption = None,
    lidar_ip: Annotated[str | None, typer.Option("--lidar-ip")] = None,
    host_ip: Annotated[str | None, typer.Option("--host-ip")] = None,
    imu_port: Annotated[Path | None, typer.Option("--imu-port", help="serial IMU device")] = None,
    camera: Annotated[
        str | None, typer.Option("--camera", help="device, video file or image folder")
    ] = None,
) -> None:
    """Record the live sensors into a session, with no processing."""
    from device.config import with_sensor_overrides
    from device.recording import record_live
    from device.storage import SessionStore, StorageFullError

    cfg = scanner_config(config)
    try:  # the flags override the config's sensor sections, validated like the file
        cfg = with_sensor_overrides(
            cfg, lidar_ip=lidar_ip, host_ip=host_ip, imu_port=imu_port, camera=camera
        )
    except ValueError as exc:
        raise fail(f"bad sensor settings: {' '.join(str(exc).split())}") from None
    if out.exists():
        raise fail(f"{out}: exists; choose a new folder for the session")
    try:
        room = SessionStore(out.parent, reserve_bytes=cfg.storage_reserve_mb * 10**6)
        room = room.check_can_record()
    except StorageFullError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"{room.free_bytes / 1e9:.1f} GB free: about {room.minutes_left:.0f} min of scanning",
        err=True,
    )
    recording = record_live(
        cfg,
        out,
        duration,
        on_start=lambda drivers: typer.echo(
            f"recording {', '.join(drivers)} into {out}; Ctrl-C stops", err=True
        ),
    )
    manifest = recording.manifest
    st = manifest.stats
    typer.echo(
        f"{out}: {manifest.duration_s:.1f} s, {st.get('lidar_sweeps', 0)} sweeps, "
        f"{st.get('imu_samples', 0)} IMU samples, {st.get('images', 0)} images "
        f"({manifest.state.value})"
    )
    for sensor, health in recording.health.items():
        typer.echo(f"  {sensor}: {health}", err=True)
