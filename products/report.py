"""report.html: one self-contained page (images inline) that opens offline.

People would rather look than read: a top view and two side views of the map with the path,
then the numbers, the SLAM's warnings and each sensor's health.
"""

from __future__ import annotations

import base64
import html
import io

import numpy as np

from drivers.sessions.manifest import SessionManifest
from products.map import MapCloud

LOOP_CLOSED_M = 1.0  # a walk that ends this close to its start came back: show the gap


def view_png(
    points: np.ndarray,  # [N, 3]
    path: np.ndarray,  # [K, 3]
    axes: tuple[int, int],
    size: int = 800,
    loops: list[tuple[np.ndarray, np.ndarray, str]] = (),  # ([3], [3], label) each
    marks: list[tuple] = (),  # (name, [3]) or (name, [3], (r, g, b)) each
) -> bytes:
    """Point density seen along the third axis, the path in red, the loops closed in blue
    (from the older place to the newer, labelled with the correction they made), the marks
    (control points) in green."""
    from PIL import Image, ImageDraw

    a, b = axes
    both = np.vstack([points[:, [a, b]], path[:, [a, b]]])
    lo, hi = both.min(axis=0) - 0.5, both.max(axis=0) + 0.5
    scale = (size - 1) / float((hi - lo).max())
    w, h = (np.ceil((hi - lo) * scale).astype(int) + 1).clip(16, size)
    ij = ((points[:, [a, b]] - lo) * scale).astype(int)
    ij = ij[(ij[:, 0] < w) & (ij[:, 1] < h)]
    density = np.zeros((h, w))
    np.add.at(density, (h - 1 - ij[:, 1], ij[:, 0]), 1.0)
    shade = np.log1p(density) / np.log1p(density.max() or 1.0)
    img = Image.fromarray((255 - 230 * shade).astype(np.uint8)).convert("RGB")
    xy = (path[:, [a, b]] - lo) * scale
    draw = ImageDraw.Draw(img)
    draw.line([(float(x), float(h - 1 - y)) for x, y in xy], fill=(220, 40, 40), width=2)
    for p, q, label in loops:
        (x0, y0), (x1, y1) = (p[[a, b]] - lo) * scale, (q[[a, b]] - lo) * scale
        draw.line([(x0, h - 1 - y0), (x1, h - 1 - y1)], fill=(30, 90, 220), width=3)
        draw.ellipse([x1 - 4, h - 5 - y1, x1 + 4, h + 3 - y1], outline=(30, 90, 220), width=2)
        draw.text((x1 + 6, h - 1 - y1 - 6), label, fill=(30, 90, 220))
    for name, p, *rgb in marks:
        colour = tuple(rgb[0]) if rgb else (20, 150, 60)
        x, y = (p[[a, b]] - lo) * scale
        y = h - 1 - y
        draw.line([(x - 5, y - 5), (x + 5, y + 5)], fill=colour, width=2)
        draw.line([(x - 5, y + 5), (x + 5, y - 5)], fill=colour, width=2)
        draw.text((x + 7, y - 6), name, fill=colour)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def _img(png: bytes, alt: str) -> str:
    return f'<img alt="{alt}" src="data:image/png;base64,{base64.b64encode(png).decode()}">'


def _table(rows: dict[str, object]) -> str:
    return (
        "<table>"
        + "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in rows.items()
        )
        + "</table>"
    )


def report_html(
    manifest: SessionManifest,
    path: np.ndarray,  # [K, 3] the lidar's positions
    stats: dict,
    cloud: MapCloud,
    loops: list[tuple[np.ndarray, np.ndarray, float]] = (),  # older place [3], newer [3], m
    marks: list[tuple[str, float, np.ndarray]] = (),  # (name, s into the scan, [3] map) each
) -> str:
    # every k-th point: plenty for an 800-pixel picture (the map is in tiles: an even spread)
    pts = np.asarray(cloud.xyz_m[:: max(1, len(cloud) // 400_000)])
    loop_marks = [(p, q, f"{c * 100:.0f} cm") for p, q, c in loops]
    extent = np.ptp(pts, axis=0) if len(pts) else np.zeros(3)
    gap = float(np.linalg.norm(path[-1] - path[0])) if len(path) else 0.0
    warnings = []
    if stats["degenerate_sweeps"]:
        share = stats["degenerate_sweeps"] / max(stats["sweeps"], 1)
        warnings.append(
            f"{stats['degenerate_sweeps']} sweeps ({share:.0%}) were geometrically degenerate"
            " (a corridor, an open field): the IMU carried the weak direction there."
        )
    if stats["skipped"]:
        warnings.append(f"{stats['skipped']} sweeps had too few points and were skipped.")
    if stats["poses"] < stats["sweeps"] - stats["skipped"] - 15:
        warnings.append("Fewer poses than sweeps: the start (IMU initialisation) or gaps.")
    if gap < LOOP_CLOSED_M and stats["distance_m"] > 10 * LOOP_CLOSED_M:
        loop = f"{gap * 100:.1f} cm between the start and the end of the walk (drift bound)"
    else:
        loop = f"the walk did not return to its start (ends {gap:.1f} m away)"
    area = extent[0] * extent[1]
    summary = {
        "Session": manifest.id,
        "Recorded (UTC)": manifest.created_utc,
        "Source": manifest.source,
        "Duration": f"{stats['duration_s']:.1f} s",
        "Distance walked": f"{stats['distance_m']:.1f} m",
        "Map": f"{len(cloud):,} points at {stats.get('final_map_voxel_m', 0) * 100:g} cm,"
        f" {extent[0]:.1f} x {extent[1]:.1f} x {extent[2]:.1f} m"
        + (f", {len(cloud) / area:,.0f} points/m² in plan" if area > 0 else ""),
        "Loop": loop,
        "SLAM": f"{stats['mode']}, {stats['poses']} poses of {stats['sweeps']} sweeps,"
        f" {stats['points_per_s'] / 1e6:.2f}M points/s",
        "Processing": f"{stats.get('map_ready_s', stats['processing_s']):.1f} s to the map",
    }
    if "loops" in stats:
        summary["Loop closures"] = (
            f"{stats['loops']} closed ({stats['loop_candidates_refused']} candidates refused)"
            + (
                f"; largest correction {stats['largest_correction_m'] * 100:.1f} cm"
                if stats["loops"]
                else ""
            )
            + f"; {stats['submaps']} submaps"
        )
    sensors = {}
    for s in manifest.sensors:
        sensors[f"{s.name} ({s.model})"] = (
            f"{s.rate_hz:g} Hz on {s.topic}; {s.messages:,} messages, {s.drops} lost"
            + ("" if s.connected else "; DISCONNECTED at the end of the scan")
        )
    rec = manifest.stats
    sensors["Recorded"] = (
        f"{rec.get('lidar_sweeps', 0)} sweeps ({rec.get('lidar_points', 0):,} points),"
        f" {rec.get('imu_samples', 0)} IMU samples, {rec.get('images', 0)} images,"
        f" {rec.get('bytes', 0) / 1e6:.0f} MB"
    )
    sensors["Losses"] = (
        f"{rec.get('dropped', 0)} frames dropped, {rec.get('write_errors', 0)} write errors"
        + (
            f"; recovered after an unclean stop ({rec['recovery_stop']})"
            if "recovery_stop" in rec
            else ""
        )
    )
    placed = [(name, p) for name, _, p in marks if np.isfinite(p).all()]
    mark_rows = {
        name: f"{t:.1f} s into the scan; x {p[0]:.3f}, y {p[1]:.3f}, z {p[2]:.3f} m"
        if np.isfinite(p).all()
        else "outside the trajectory: no position"
        for name, t, p in marks
    }
    side_xz = _img(view_png(pts, path, (0, 2), 480), "side view x-z")
    side_yz = _img(view_png(pts, path, (1, 2), 480), "side view y-z")
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in warnings) or "<li>None.</li>"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Scan report {html.escape(manifest.id)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
th{{text-align:left;padding-right:1em;vertical-align:top}}
img{{max-width:100%;border:1px solid #ccc}}
.views{{display:grid;grid-template-columns:1fr 1fr;gap:1em}}</style>
</head><body><h1>Scan report</h1>
<h2>Top view</h2><p>Map point density, the walk in red, the loops closed in blue (with the
correction each made).</p>
{_img(view_png(pts, path, (0, 1), loops=loop_marks, marks=placed), "top view")}
<div class="views"><div><h2>Side view (x-z)</h2>{side_xz}</div>
<div><h2>Side view (y-z)</h2>{side_yz}</div></div>
<h2>Summary</h2>{_table(summary)}
<h2>Marks</h2><p>Control points marked during the scan (the reference point, map frame;
products/marks.csv).</p>{_table(mark_rows) if mark_rows else "<p>None.</p>"}
<h2>Warnings</h2><ul>{warn}</ul>
<h2>Sensors</h2>{_table(sensors)}
</body></html>
"""


def _residual_table(fit) -> str:  # fit: products.georef.Georef
    head = "".join(
        f"<th>{h}</th>" for h in ("name", "role", "dE mm", "dN mm", "dH mm", "|d| mm", "LOO mm", "")
    )
    rows = []
    for r in fit.residuals:
        loo = "-" if r.loo_m is None else f"{r.loo_m * 1e3:.1f}"
        cells = [html.escape(r.name), r.role, *(f"{v * 1e3:.1f}" for v in (*r.d_m, r.norm_m)), loo]
        cells.append("over tolerance" if r.flagged else "")
        rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    rms = "; ".join(
        f"RMS {role} {fit.rms_m(role) * 1e3:.1f} mm"
        for role in ("control", "check", "excluded")
        if fit.rms_m(role) is not None
    )
    return f"<table><tr>{head}</tr>{''.join(rows)}</table><p>{html.escape(rms)}</p>"


def georef_report_html(
    session_id: str,
    after,  # products.georef.Georef: the fit the products use
    before=None,  # the rigid fit on the scan as mapped, when the graph was bent
    path_crs: np.ndarray | None = None,  # [K, 3] the lidar's positions in the CRS
    points_crs: np.ndarray | None = None,  # [N, 3] map points in the CRS (a subsample)
    marks_crs: dict[str, np.ndarray] | None = None,  # name -> [3]
) -> str:
    """The georeferencing's report: the fit, the residual tables (before and after the control
    points bent the graph) and a top view with the marks."""
    summary = {
        "Scan": session_id,
        "CRS": f"EPSG {after.epsg}" if after.epsg is not None else "none given",
        "Fit": ("7 parameters, scale " + f"{after.scale:.9f}" if after.scale != 1.0 else "rigid")
        + (", heading only (level)" if after.levelled else "")
        + ("; control points as priors in the pose graph" if before is not None else ""),
        "Tolerance": f"{after.tolerance_m * 1e3:.0f} mm",
        "Flagged": ", ".join(after.flagged) or "none",
    }
    picture = ""
    if path_crs is not None and len(path_crs):
        pts = points_crs if points_crs is not None else np.zeros((0, 3))
        role = {r.name: (r.role, r.flagged) for r in after.residuals}
        colours = {"control": (20, 150, 60), "check": (30, 90, 220), "excluded": (120, 120, 120)}
        named = [
            (name, p, (220, 40, 40) if role[name][1] else colours[role[name][0]])
            if name in role
            else (name, p, (120, 120, 120))
            for name, p in (marks_crs or {}).items()
        ]
        picture = (
            "<h2>Top view (CRS)</h2><p>Control points green, check points blue, flagged red,"
            " other marks grey; the walk in red.</p>"
        ) + _img(view_png(pts, path_crs, (0, 1), marks=named), "top view in the CRS")
    tables = f"<h2>Residuals (measured - surveyed)</h2>{_residual_table(after)}"
    if before is not None:
        tables += f"<h2>Before: the rigid fit on the scan as mapped</h2>{_residual_table(before)}"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Georeferencing {html.escape(session_id)}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em}}
th,td{{text-align:right;padding:0 0.6em}} th:first-child,td:first-child{{text-align:left}}
img{{max-width:100%;border:1px solid #ccc}}</style>
</head><body><h1>Georeferencing</h1>{_table(summary)}{tables}{picture}
</body></html>
"""
