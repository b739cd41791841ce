"""`scanner slam`: SLAM on recorded data, with the trajectory and the map written to files."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, scanner_config


def slam(
    input: Annotated[
        Path, typer.Argument(help="a session folder, a .mcap, or a folder of .pcd/.ply/.npy scans")
    ],
    out: Annotated[Path, typer.Option("--out", help="trajectory to write (TUM)")],
    map: Annotated[
        Path | None, typer.Option("--map", help="downsampled map to write (PLY)")
    ] = None,
    lidar_only: Annotated[bool, typer.Option("--lidar-only", help="ignore any IMU")] = False,
    config: ConfigOption = None,
) -> None:
    """Run SLAM on recorded data and write the trajectory and the map."""
    from device.offline_slam import open_slam_input, refined_extrinsic, save_slam_run
    from device.processing import ProcessingError, run_slam

    cfg = scanner_config(config)
    try:
        inp = open_slam_input(input, cfg, lidar_only)
    except ProcessingError as exc:
        raise fail(str(exc)) from None
    mode = inp.mode
    with typer.progressbar(
        length=max(inp.n_sweeps, 1), label=f"registering ({mode})", file=sys.stderr
    ) as bar:
        try:
            run = run_slam(inp, cfg, on_step=lambda n: bar.update(1))
        except ProcessingError as exc:
            raise fail(f"{input}: {exc}") from None
    try:
        save_slam_run(input, run, cfg, out, map)
    except ProcessingError as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"{len(run.t_s)} poses -> {out}"
        + (f", {len(run.map_points):,} map points -> {map}" if map else "")
        + f"; {mode}, {run.points_per_s / 1e6:.2f}M points/s, {run.n_skipped} scans skipped,"
        f" {run.n_recovered} lost priors recovered"
    )
    refined = refined_extrinsic(cfg, inp, run)
    if refined is not None:
        import numpy as np

        typer.echo(
            "refined T_lidar_imu (moved "
            f"{refined.rotation_deg:.2f} deg, "
            f"{100 * refined.translation_m:.1f} cm from the calibration):\n"
            + np.array2string(refined.T_lidar_imu, precision=6, suppress_small=True)
        )
