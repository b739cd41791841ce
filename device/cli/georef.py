"""`scanner georef`: a scan tied to surveyed control points (products/georef.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from device.cli.common import ConfigOption, fail, processed_session, scanner_config


def _names(text: str | None) -> list[str]:
    return [n.strip() for n in (text or "").split(",") if n.strip()]


def georef(
    session: Annotated[Path, typer.Argument(help="a session folder with marks")],
    control: Annotated[
        Path, typer.Option("--control", help="CSV: name, easting, northing, height[, epsg]")
    ],
    check: Annotated[
        str | None, typer.Option("--check", help="names held out as check points, a,b,...")
    ] = None,
    exclude: Annotated[
        str | None, typer.Option("--exclude", help="names left out (a flagged point), a,b,...")
    ] = None,
    scale: Annotated[
        bool, typer.Option("--scale/--rigid", help="7 parameters (with scale) or 6 (rigid)")
    ] = False,
    level: Annotated[
        bool,
        typer.Option(
            "--level/--tilt",
            help="heading only (a unit whose IMU is calibrated: its map is level) or a full "
            "rotation (default: an uncalibrated IMU's cross-axis error tilts the map ~1 deg)",
        ),
    ] = False,
    adjust: Annotated[
        str,
        typer.Option(
            "--adjust",
            help="graph: the control points bend the scan's pose graph, then a rigid fit (the "
            "default where the scan has one); rigid: one rigid (or --scale) fit only",
        ),
    ] = "graph",
    tolerance_m: Annotated[
        float, typer.Option("--tolerance-m", help="a residual above this is flagged")
    ] = 0.05,
    out: Annotated[
        Path | None, typer.Option("--out", help="folder to write (default SESSION/products/georef)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Match the scan's marks to control points by name, solve the transform to their CRS (the
    control points bending the scan's pose graph first, unless --adjust rigid), print the
    residuals (check points held out), and write the map (LAZ and E57 with the CRS), the
    trajectory, the marks and a report in that CRS (device/georef.py)."""
    from device.georef import GeorefSettings, georef_session
    from products.georef import GeorefError

    cfg = scanner_config(config)
    processed_session(session, cfg)
    settings = GeorefSettings(
        tuple(_names(check)), tuple(_names(exclude)), adjust, scale, level, tolerance_m
    )
    try:
        done = georef_session(session, control, settings, cfg, out)
    except (GeorefError, OSError) as exc:
        raise fail(str(exc)) from None
    for note in done.notes:
        typer.echo(note, err=True)
    if done.before is not None:
        typer.echo("before (rigid fit on the scan as mapped):")
        typer.echo(done.before.table())
        typer.echo("\nafter (control points in the pose graph):")
    typer.echo(done.result.table())
    if done.map_points is not None:
        typer.echo(f"{done.map_points:,} points -> {done.out / 'map.laz'}")
    if flagged := done.result.flagged:
        typer.secho(
            f"flagged (above {tolerance_m * 100:g} cm): {', '.join(flagged)};"
            " exclude a wrong one with --exclude",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(f"-> {done.out}")
