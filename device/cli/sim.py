"""`scanner sim`: the digital twin (`scenes`, `generate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import fail, progress

app = typer.Typer(
    help="The digital twin: a virtual scanner with ground truth.", no_args_is_help=True
)


@app.command("scenes")
def scenes() -> None:
    """List the twin's scenes."""
    from drivers.sim.scenes.catalog import describe_scenes

    for name, text in describe_scenes().items():
        typer.echo(f"{name:10s} {text}")


@app.command("generate")
def generate(
    out: Annotated[Path, typer.Option("--out", help="session folder to create")],
    scene: Annotated[str, typer.Option("--scene")] = "office",
    seed: Annotated[int, typer.Option("--seed")] = 0,
    duration: Annotated[
        float, typer.Option("--duration", min=0.5, max=3600.0, help="seconds")
    ] = 60.0,
    motion: Annotated[str, typer.Option("--motion", help="walk | aggressive | static")] = "walk",
    start_m: Annotated[
        float, typer.Option("--start-m", min=0.0, help="start this far along the scene's walk")
    ] = 0.0,
    scene_seed: Annotated[
        int | None,
        typer.Option("--scene-seed", help="the scene's seed (default: --seed): one site"),
    ] = None,
    camera_rate: Annotated[
        float, typer.Option("--camera-rate", min=0.0, max=30.0, help="Hz, 0 = off")
    ] = 10.0,
    external_imu: Annotated[
        bool, typer.Option("--external-imu", help="also a serial IMU (400 Hz, /xsens/imu)")
    ] = False,
    camera_model: Annotated[str, typer.Option("--camera-model", help="pinhole | fisheye")] = (
        "pinhole"
    ),
    camera_size: Annotated[str, typer.Option("--camera-size", help="WIDTHxHEIGHT")] = "1280x720",
    camera_fov: Annotated[
        float, typer.Option("--camera-fov", min=10.0, max=220.0, help="horizontal, degrees")
    ] = 90.0,
    realism: Annotated[
        str, typer.Option("--realism", help="real-world errors: ideal | datasheet | harsh")
    ] = "ideal",
    error: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="one error switch, e.g. lidar.glass=off or timing.lidar_imu_offset_ms=3 "
            "(drivers/sim/realism.py); repeatable",
        ),
    ] = None,
) -> None:
    """Simulate a scan and write it as a session with ground truth."""
    from drivers.sim.generate import generate_session, sim_settings

    try:
        overrides = dict(_key_value(e) for e in error or [])
        settings = sim_settings(
            out,
            scene=scene,
            seed=seed,
            duration_s=duration,
            motion=motion,
            start_m=start_m,
            scene_seed=scene_seed,
            camera_rate_hz=camera_rate,
            external_imu=external_imu,
            camera_model=camera_model,
            camera_size=camera_size,
            camera_fov_deg=camera_fov,
            realism=realism,
            errors=overrides,
        )
    except ValueError as exc:
        raise fail(str(exc)) from None
    with progress(f"simulating {scene}") as update:
        manifest = generate_session(out, settings, update)
    st = manifest.stats
    typer.echo(
        f"{out}: {manifest.duration_s:.1f} s, {st['lidar_sweeps']} sweeps "
        f"({st['lidar_points']:,} points), {st['imu_samples']} IMU samples, {st['images']} images"
    )


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise ValueError(f"--set takes KEY=VALUE, not {text!r}")
    return key.strip(), value.strip()
