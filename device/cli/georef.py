"""`scanner georef`: a scan tied to surveyed control points (products/georef.py)."""

from __future__ import annotations

import json
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
    tolerance_m: Annotated[
        float, typer.Option("--tolerance-m", help="a residual above this is flagged")
    ] = 0.05,
    out: Annotated[
        Path | None, typer.Option("--out", help="folder to write (default SESSION/products/georef)")
    ] = None,
    config: ConfigOption = None,
) -> None:
    """Match the scan's marks to control points by name, solve the transform to their CRS,
    print the residuals (check points held out), and write the map (LAZ with the CRS), the
    trajectory and the marks in that CRS."""
    from drivers.sessions.manifest import PRODUCTS
    from drivers.sessions.marks import MARKS_CSV, read_marks_csv
    from drivers.sessions.trajectory import read_tum, write_tum
    from products.georef import GeorefError, georeference, read_control_csv, transform_las

    cfg = scanner_config(config)
    processed_session(session, cfg)
    products = session / PRODUCTS
    if not (products / MARKS_CSV).exists():
        raise fail(f"{session}: no marks (mark control points during the scan)")
    marks = read_marks_csv(products / MARKS_CSV)
    try:
        points = read_control_csv(control)
        result = georeference(
            marks, points, _names(check), _names(exclude), scale, tolerance_m, level
        )
    except (GeorefError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(result.table())
    out = out or products / "georef"
    out.mkdir(parents=True, exist_ok=True)
    (out / "georef.json").write_text(json.dumps(result.to_dict(), indent=2))
    (out / "residuals.txt").write_text(result.table() + "\n")
    T = result.T_crs_map
    t, T_traj = read_tum(products / "trajectory.tum")
    write_tum(out / "trajectory.tum", t, T @ T_traj)
    with open(out / MARKS_CSV, "w") as f:
        f.write("name,easting,northing,height\n")
        for name, p in marks.items():
            q = T[:3, :3] @ p + T[:3, 3]
            f.write(f"{name},{q[0]:.4f},{q[1]:.4f},{q[2]:.4f}\n")
    for name in ("map.laz", "map.las"):
        if (products / name).exists():
            n = transform_las(products / name, out / "map.laz", T, result.epsg)
            typer.echo(f"{n:,} points -> {out / 'map.laz'}")
            break
    else:
        typer.echo("no map.laz in the products: the map was not transformed", err=True)
    flagged = [r.name for r in result.residuals if r.flagged]
    if flagged:
        typer.secho(
            f"flagged (above {tolerance_m * 100:g} cm): {', '.join(flagged)};"
            " exclude a wrong one with --exclude",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(f"-> {out}")
