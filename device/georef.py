"""A processed session tied to surveyed control points: its marks matched to a control CSV,
the fit (products/georef.py; the control points bending the scan's pose graph first where it
has one), and the products in the CRS in products/georef/. `scanner georef` calls it."""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from device.config import ScannerConfig
from device.workers import BackgroundJob
from drivers.sessions.manifest import GEOREF, PRODUCTS, SUBMAPS, read_manifest
from drivers.sessions.marks import MARKS_CSV, mark_positions, read_marks, read_marks_csv
from drivers.sessions.trajectory import read_tum, write_tum
from products.georef import (
    Georef,
    GeorefError,
    adjust_in_graph,
    georeference,
    read_control_csv,
    transform_las,
)
from slam.se3 import transform

log = logging.getLogger(__name__)

ADJUSTMENTS = ("graph", "rigid")


@dataclass(frozen=True)
class GeorefSettings:
    check: tuple[str, ...] = ()  # names held out as check points
    exclude: tuple[str, ...] = ()  # names left out
    adjust: str = "graph"  # the control points bend the pose graph first; "rigid": a fit only
    scale: bool = False  # 7 parameters
    level: bool = False  # heading only (a calibrated IMU's level map)
    tolerance_m: float = 0.05


@dataclass
class GeorefOutcome:
    result: Georef  # the fit the products use
    before: Georef | None  # the rigid fit before the graph was bent (adjust graph)
    out: Path
    map_points: int | None  # None: no map written
    notes: list[str] = field(default_factory=list)  # what the user should know


def georef_session(
    session: Path, control: Path, settings: GeorefSettings, config: ScannerConfig,
    out: Path | None = None,
) -> GeorefOutcome:  # fmt: skip
    """Georeference a processed session; GeorefError for bad control files, too few matches,
    a session without marks."""
    from products.report import georef_report_html
    from slam.mapping import read_graph

    s = settings
    if s.adjust not in ADJUSTMENTS:
        raise GeorefError(f"adjust is one of {', '.join(ADJUSTMENTS)}, not {s.adjust!r}")
    products = session / PRODUCTS
    if not (products / MARKS_CSV).exists():
        raise GeorefError(f"{session}: no marks (mark control points during the scan)")
    mapping = read_graph(session / SUBMAPS)  # None: no graph.json (an older session)
    bend = s.adjust == "graph" and mapping is not None and not (s.scale or s.level)
    notes = []
    if s.adjust == "graph" and not bend:
        notes.append("no pose graph to bend (or scale/level asked for): a rigid fit only")
    out = out or products / GEOREF
    points = read_control_csv(control)
    before = None
    if bend:
        all_marks = read_marks(session)
        bent = adjust_in_graph(
            mapping, config.mapping, all_marks, points, s.check, s.exclude,
            tolerance_m=s.tolerance_m,
        )  # fmt: skip
        result, before = bent.after, bent.before
        t, T_traj, anchors = mapping.t_s, bent.T_world_lidar, bent.T_world_anchor
        xyz = mark_positions(all_marks, t, T_traj)
        marks = {m.name: p for m, p in zip(all_marks, xyz, strict=True) if np.isfinite(p).all()}
    else:
        marks = read_marks_csv(products / MARKS_CSV)
        result = georeference(marks, points, s.check, s.exclude, s.scale, s.tolerance_m, s.level)
        t, T_traj = read_tum(products / "trajectory.tum")
        anchors = mapping.T_world_anchor if mapping is not None else None
    doc = result.to_dict()
    if before is not None:
        doc = {**doc, "adjust": "graph", "before": before.to_dict()}
    out.mkdir(parents=True, exist_ok=True)
    (out / "georef.json").write_text(json.dumps(doc, indent=2))
    (out / "residuals.txt").write_text(result.table() + "\n")
    T = result.T_crs_map
    write_tum(out / "trajectory.tum", t, T @ T_traj)
    marks_crs = {name: transform(T, p[None])[0] for name, p in marks.items()}
    with open(out / MARKS_CSV, "w") as f:
        f.write("name,easting,northing,height\n")
        for name, q in marks_crs.items():
            f.write(f"{name},{q[0]:.4f},{q[1]:.4f},{q[2]:.4f}\n")
    sample, n = None, None  # [S, 3] map points in the CRS, for the report's picture
    if mapping is not None:  # the map again from the submaps (at the bent anchors)
        n, sample = _map_in_crs(session, mapping, anchors, config, out, T, result.epsg, not s.scale)
        if s.scale:
            notes.append("no map.e57: its scan pose cannot hold a scale")
    elif src := next(
        (products / f for f in ("map.laz", "map.las") if (products / f).exists()), None
    ):
        n = transform_las(src, out / "map.laz", T, result.epsg)
        notes.append("no graph.json: map.laz transformed, no map.e57")
    else:
        notes.append("no map in the products: the map was not transformed")
    (out / "report.html").write_text(
        georef_report_html(
            session.name,
            result,
            before,
            T_traj[:, :3, 3] @ T[:3, :3].T + T[:3, 3],
            sample,
            {name: T[:3, :3] @ p + T[:3, 3] for name, p in marks.items()},
        )  # fmt: skip
    )
    return GeorefOutcome(result, before, out, n, notes)


def _map_in_crs(
    session: Path,
    mapping,  # slam.mapping.MappingResult
    T_world_anchor: np.ndarray,  # [K, 4, 4]
    config: ScannerConfig,
    out: Path,
    T_crs_map: np.ndarray,  # [4, 4]
    epsg: int | None,
    e57: bool,
) -> tuple[int, np.ndarray]:  # -> points written, [S, 3] a subsample in the CRS
    """The submaps placed at these anchors (map frame), written into the CRS as map.laz (each
    chunk through T_crs_map), and map.e57 with the points in the map frame and T_crs_map as
    the scan's pose (rigid only)."""
    from products.export import write_e57, write_las
    from products.map import map_from_submaps

    work = out / ".map"
    try:
        cloud = map_from_submaps(mapping.folder, T_world_anchor, config.products, work)
        offset_s = read_manifest(session).utc_offset_s
        write_las(out / "map.laz.tmp", cloud, offset_s, epsg, True, T_crs_map)
        (out / "map.laz.tmp").replace(out / "map.laz")
        n = len(cloud)
        if e57:
            write_e57(out / "map.e57.tmp", cloud, T_crs_map, epsg)
            (out / "map.e57.tmp").replace(out / "map.e57")
        sample = np.asarray(cloud.xyz_m[:: max(1, len(cloud) // 400_000)])
        return n, transform(T_crs_map, sample)
    finally:
        shutil.rmtree(work, ignore_errors=True)


# --- in the background, for the API ---------------------------------------------------------


def _georef_run(
    session_dir: str, control_path: str, settings: GeorefSettings, config_json: str
) -> dict:
    """georef_session in the job's process -> the summary the API shows."""
    config = ScannerConfig.model_validate_json(config_json)
    done = georef_session(Path(session_dir), Path(control_path), settings, config)
    r = done.result
    return {
        "rms_m": {role: r.rms_m(role) for role in ("control", "check", "excluded")},
        "rms_before_m": None
        if done.before is None
        else {role: done.before.rms_m(role) for role in ("control", "check")},
        "flagged": list(r.flagged),
        "tolerance_m": r.tolerance_m,
        "scale": r.scale,
        "map_points": done.map_points,
        "notes": done.notes,
    }


def georef_in_background(
    session_dir: Path, control: Path, settings: GeorefSettings, config: ScannerConfig
) -> BackgroundJob:
    """georef_session in a worker process of its own (the API's; the CLI calls it directly)."""
    args = (str(session_dir), str(control), settings, config.model_dump_json())
    return BackgroundJob("georef", _georef_run, args, expected=(GeorefError,))
