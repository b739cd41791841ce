"""`scanner georef`: a scan tied to surveyed control points (products/georef.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
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
    residuals (check points held out), and write the map (LAZ with the CRS), the trajectory and
    the marks in that CRS."""
    from drivers.sessions.manifest import GEOREF, PRODUCTS, SUBMAPS
    from drivers.sessions.marks import MARKS_CSV, mark_positions, read_marks, read_marks_csv
    from drivers.sessions.trajectory import read_tum, write_tum
    from products.georef import (
        GeorefError,
        adjust_in_graph,
        georeference,
        read_control_csv,
        transform_las,
    )
    from products.report import georef_report_html
    from slam.mapping import read_graph

    if adjust not in ("graph", "rigid"):
        raise fail(f"--adjust is graph or rigid, not {adjust!r}")
    cfg = scanner_config(config)
    processed_session(session, cfg)
    products = session / PRODUCTS
    if not (products / MARKS_CSV).exists():
        raise fail(f"{session}: no marks (mark control points during the scan)")
    mapping = read_graph(session / SUBMAPS)  # None: no graph.json (an older session)
    bend = adjust == "graph" and mapping is not None and not (scale or level)
    if adjust == "graph" and not bend:
        typer.echo("no pose graph to bend (or --scale/--level): a rigid fit only", err=True)
    out = out or products / GEOREF
    try:
        points = read_control_csv(control)
        if not bend:
            marks = read_marks_csv(products / MARKS_CSV)
            result = georeference(
                marks, points, _names(check), _names(exclude), scale, tolerance_m, level
            )
            doc = result.to_dict()
            t, T_traj = read_tum(products / "trajectory.tum")
        else:
            all_marks = read_marks(session)
            bent = adjust_in_graph(
                mapping, cfg.mapping, all_marks, points, _names(check), _names(exclude),
                tolerance_m=tolerance_m,
            )  # fmt: skip
            result = bent.after
            typer.echo("before (rigid fit on the scan as mapped):")
            typer.echo(bent.before.table())
            typer.echo("\nafter (control points in the pose graph):")
            doc = {**result.to_dict(), "adjust": "graph", "before": bent.before.to_dict()}
            t, T_traj = mapping.t_s, bent.T_world_lidar
            xyz = mark_positions(all_marks, t, T_traj)
            marks = {m.name: p for m, p in zip(all_marks, xyz, strict=True) if np.isfinite(p).all()}
    except (GeorefError, OSError) as exc:
        raise fail(str(exc)) from None
    typer.echo(result.table())
    out.mkdir(parents=True, exist_ok=True)
    (out / "georef.json").write_text(json.dumps(doc, indent=2))
    (out / "residuals.txt").write_text(result.table() + "\n")
    T = result.T_crs_map
    write_tum(out / "trajectory.tum", t, T @ T_traj)
    with open(out / MARKS_CSV, "w") as f:
        f.write("name,easting,northing,height\n")
        for name, p in marks.items():
            q = T[:3, :3] @ p + T[:3, 3]
            f.write(f"{name},{q[0]:.4f},{q[1]:.4f},{q[2]:.4f}\n")
    sample = None  # [S, 3] map points in the CRS, for the report's picture
    if mapping is not None:  # the map again from the submaps (at the bent anchors)
        anchors = bent.T_world_anchor if bend else mapping.T_world_anchor
        n, sample = _map_in_crs(session, mapping, anchors, cfg, out, T, result.epsg, not scale)
        typer.echo(f"{n:,} points -> {out / 'map.laz'}" + ("" if scale else ", map.e57"))
    else:
        for name in ("map.laz", "map.las"):
            if (products / name).exists():
                n = transform_las(products / name, out / "map.laz", T, result.epsg)
                typer.echo(f"{n:,} points -> {out / 'map.laz'}")
                break
        else:
            typer.echo("no map.laz in the products: the map was not transformed", err=True)
    (out / "report.html").write_text(
        georef_report_html(
            session.name,
            result,
            bent.before if bend else None,
            T_traj[:, :3, 3] @ T[:3, :3].T + T[:3, 3],
            sample,
            {name: T[:3, :3] @ p + T[:3, 3] for name, p in marks.items()},
        )
    )
    flagged = [r.name for r in result.residuals if r.flagged]
    if flagged:
        typer.secho(
            f"flagged (above {tolerance_m * 100:g} cm): {', '.join(flagged)};"
            " exclude a wrong one with --exclude",
            fg=typer.colors.YELLOW,
            err=True,
        )
    typer.echo(f"-> {out}")


def _map_in_crs(
    session, mapping, T_world_anchor, cfg, out: Path, T_crs_map, epsg, e57: bool
) -> tuple[int, np.ndarray]:  # -> points written, [S, 3] a subsample in the CRS
    """The submaps placed at these anchors (map frame), streamed into the CRS as map.laz, and
    map.e57 with the points in the map frame and T_crs_map as the scan's pose (rigid only)."""
    import shutil

    from drivers.sessions.manifest import read_manifest
    from products.export import write_e57, write_map
    from products.georef import transform_las
    from products.map import map_from_submaps

    work = out / ".map"
    try:
        cloud = map_from_submaps(mapping.folder, T_world_anchor, cfg.products, work)
        local = out / "map.local.laz.tmp"
        write_map(local, cloud, "laz", gps_offset_s=read_manifest(session).utc_offset_s)
        n = transform_las(local, out / "map.laz", T_crs_map, epsg)
        local.unlink()
        if e57:
            write_e57(out / "map.e57.tmp", cloud, T_crs_map, epsg)
            (out / "map.e57.tmp").replace(out / "map.e57")
        sample = np.asarray(cloud.xyz_m[:: max(1, len(cloud) // 400_000)])
        return n, sample @ T_crs_map[:3, :3].T + T_crs_map[:3, 3]
    finally:
        shutil.rmtree(work, ignore_errors=True)
