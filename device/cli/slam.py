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
    odometry: Annotated[
        bool,
        typer.Option(
            "--odometry", help="the odometry alone: no submaps, loop closure or pose graph"
        ),
    ] = False,
    submaps: Annotated[
        Path | None,
        typer.Option("--submaps", help="keep the submaps and graph.json in this folder"),
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Run SLAM on recorded data and write the trajectory and the map.

    By default the global mapping runs over the odometry (submaps, loop closure, the pose
    graph optimised at the end), as the scanner makes its products."""
    import tempfile

    from device.offline_slam import (
        check_submaps_folder,
        map_recording,
        open_slam_input,
        refined_extrinsic,
        save_slam_run,
    )
    from device.processing import ProcessingError, run_slam

    cfg = scanner_config(config)
    try:
        if submaps is not None:
            check_submaps_folder(submaps)
        inp = open_slam_input(input, cfg, lidar_only)
    except ProcessingError as exc:
        raise fail(str(exc)) from None
    mode = inp.mode
    with typer.progressbar(
        length=max(inp.n_sweeps, 1), label=f"registering ({mode})", file=sys.stderr
    ) as bar:
        step = lambda n: bar.update(1)  # noqa: E731
        try:
            if odometry:
                run, mapped = run_slam(inp, cfg, on_step=step), None
            else:
                with tempfile.TemporaryDirectory(prefix="scanner-slam-") as tmp:
                    folder = submaps if submaps is not None else Path(tmp) / "submaps"
                    run, mapped = map_recording(inp, cfg, folder, step, map is not None)
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
    if mapped is not None:
        largest = max((lc.correction_m for lc in mapped.loops), default=0.0)
        typer.echo(
            f"{mapped.n_submaps} submaps, {len(mapped.loops)} loops closed"
            f" (largest correction {largest:.2f} m), {mapped.rejected} candidates refused"
            + (f"; submaps and graph.json -> {submaps}" if submaps is not None else "")
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
