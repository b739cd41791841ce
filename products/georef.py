"""Georeferencing a scan with surveyed control points.

Marks taken during the scan (positions in the map frame) are matched by name to a control-point
CSV (positions in a projected CRS). A rigid or 7-parameter (Helmert, with scale) transform
T_crs_map is fitted on the control points (Umeyama 1991); points held out as check points test
it. Every matched point gets a residual (transformed mark minus surveyed) and, for control
points, a leave-one-out residual; points off by more than the tolerance are flagged.
`transform_las` then streams a LAS/LAZ map through T_crs_map.
"""

from __future__ import annotations

import csv
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from slam.se3 import transform

log = logging.getLogger(__name__)

ROLES = ("control", "check", "excluded")
_COLUMNS = ("name", "easting", "northing", "height")
_ALIASES = {"x": "easting", "y": "northing", "z": "height"}


class GeorefError(ValueError):
    """Bad control file, too few or degenerate points, a name that matches nothing..."""


@dataclass(frozen=True)
class ControlPoint:
    name: str
    xyz_m: np.ndarray  # [3] easting, northing, height in the CRS
    epsg: int | None

    def __post_init__(self) -> None:
        xyz_m = np.array(self.xyz_m, dtype=np.float64).reshape(-1)
        if xyz_m.shape != (3,) or not np.isfinite(xyz_m).all():
            raise GeorefError(f"control point {self.name!r}: need 3 finite coordinates")
        xyz_m.setflags(write=False)
        object.__setattr__(self, "xyz_m", xyz_m)


def _parse_float(text: str, column: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise GeorefError(f"{column} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise GeorefError(f"{column} {text!r} is not finite")
    return value


def _parse_epsg(text: str) -> int | None:
    text = text.strip()
    if not text:
        return None
    if text.upper().startswith("EPSG:"):
        text = text[5:]
    try:
        epsg = int(text)
    except ValueError:
        raise GeorefError(f"epsg {text!r} is not an integer code") from None
    if epsg <= 0:
        raise GeorefError(f"epsg {text!r} is not a valid code")
    return epsg


def _header_columns(fields: list[str], where: str) -> dict[str, int]:
    """Canonical column name -> its index, from the header's fields."""
    index: dict[str, int] = {}
    for i, field in enumerate(fields):
        key = field.strip().lower()
        key = _ALIASES.get(key, key)
        if key in index and key in (*_COLUMNS, "epsg"):
            raise GeorefError(f"{where}: column {key!r} given twice (x/y/z alias easting etc.)")
        index.setdefault(key, i)
    missing = [c for c in _COLUMNS if c not in index]
    if missing:
        has = ", ".join(f.strip() for f in fields)
        raise GeorefError(f"{where}: header lacks {', '.join(missing)} (has {has})")
    return index


def read_control_csv(path: Path) -> list[ControlPoint]:
    """Control points from a CSV file (parse_control_csv)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise GeorefError(f"{path}: cannot read: {e}") from e
    return parse_control_csv(text, str(path))


def parse_control_csv(text: str, path: str = "control.csv") -> list[ControlPoint]:
    """Control points from a CSV's text with a header: name, easting, northing, height (or x,
    y, z) and an optional epsg, case-insensitive, in any order. The delimiter is the header's:
    ',', ';' or a tab. Blank lines and lines starting with '#' are skipped; `path` names the
    file in the errors."""
    lines = text.removeprefix("\ufeff").splitlines()
    rows = [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not rows:
        raise GeorefError(f"{path}: no header and no control points")
    header_number, header_line = rows[0]
    delimiter = max(",;\t", key=header_line.count)
    fields = next(csv.reader([header_line], delimiter=delimiter))
    columns = _header_columns(fields, f"{path}:{header_number}")
    points: list[ControlPoint] = []
    seen: dict[str, int] = {}
    for number, line in rows[1:]:
        where = f"{path}:{number}"
        cells = next(csv.reader([line], delimiter=delimiter))
        if len(cells) != len(fields):
            raise GeorefError(f"{where}: {len(cells)} fields, the header has {len(fields)}")
        name = cells[columns["name"]].strip()
        if not name:
            raise GeorefError(f"{where}: empty name")
        if name in seen:
            raise GeorefError(f"{where}: name {name!r} already on line {seen[name]}")
        seen[name] = number
        try:
            xyz_m = np.array(
                [_parse_float(cells[columns[c]].strip(), c) for c in _COLUMNS[1:]],
                dtype=np.float64,
            )
            epsg = _parse_epsg(cells[columns["epsg"]]) if "epsg" in columns else None
        except GeorefError as e:
            raise GeorefError(f"{where}: {e}") from None
        if points and epsg != points[0].epsg:
            raise GeorefError(
                f"{where}: EPSG {epsg} differs from {points[0].epsg} on line {seen[points[0].name]}"
            )
        points.append(ControlPoint(name, xyz_m, epsg))
    if not points:
        raise GeorefError(f"{path}: a header but no control points")
    log.info("%s: %d control points (EPSG %s)", path, len(points), points[0].epsg)
    return points


def fit_transform(
    src_m: np.ndarray,  # [N, 3]
    dst_m: np.ndarray,  # [N, 3]
    scale: bool = False,
    levelled: bool = False,
) -> np.ndarray:  # [4, 4] T with dst ≈ T @ src
    """The least-squares rigid (or, with `scale`, similarity) transform taking src onto dst
    (Umeyama 1991), without reflection. Both sets are centred in float64 first, so UTM-sized
    coordinates keep their precision. `levelled`: src is already level (a LiDAR-inertial map,
    z up by gravity), so the rotation is about z only (4 parameters, 5 with scale): the
    controls' height errors cannot tilt the map, which over a large site would turn
    centimetres at the controls into decimetres far from them."""
    src = np.asarray(src_m, dtype=np.float64)
    dst = np.asarray(dst_m, dtype=np.float64)
    if src.ndim != 2 or src.shape[1] != 3 or src.shape != dst.shape:
        raise GeorefError(f"need two [N, 3] point sets, got {src.shape} and {dst.shape}")
    if len(src) < 3:
        raise GeorefError(f"need at least 3 points for a transform, got {len(src)}")
    if not (np.isfinite(src).all() and np.isfinite(dst).all()):
        raise GeorefError("points are not finite")
    mu_src, mu_dst = src.mean(axis=0), dst.mean(axis=0)
    src_c, dst_c = src - mu_src, dst - mu_dst
    if levelled:
        return _fit_levelled(src_c, dst_c, mu_src, mu_dst, scale)
    sv = np.linalg.svd(src_c, compute_uv=False)
    if sv[0] == 0.0 or sv[1] < 1e-3 * sv[0]:
        raise GeorefError(f"the {len(src)} points are (nearly) collinear: no unique rotation")
    U, D, Vt = np.linalg.svd(dst_c.T @ src_c / len(src))  # the cross-covariance, [3, 3]
    S = np.diag([1.0, 1.0, np.sign(np.linalg.det(U) * np.linalg.det(Vt)) or 1.0])
    R = U @ S @ Vt
    s = float(np.trace(np.diag(D) @ S) / (src_c**2).sum(axis=1).mean()) if scale else 1.0
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = mu_dst - s * R @ mu_src
    return T


def _fit_levelled(
    src_c: np.ndarray,  # [N, 3] centred
    dst_c: np.ndarray,  # [N, 3] centred
    mu_src: np.ndarray,  # [3]
    mu_dst: np.ndarray,  # [3]
    scale: bool,
) -> np.ndarray:  # [4, 4]
    a, b = src_c[:, :2], dst_c[:, :2]
    spread = float((a**2).sum())
    if spread < 1e-6:
        raise GeorefError("the points are (nearly) one above another: no unique heading")
    c = float((a * b).sum())  # sum of dot products
    d = float((a[:, 0] * b[:, 1] - a[:, 1] * b[:, 0]).sum())  # sum of cross products
    yaw = np.arctan2(d, c)
    s = float(np.hypot(c, d) / spread) if scale else 1.0
    R = np.array([[np.cos(yaw), -np.sin(yaw), 0.0], [np.sin(yaw), np.cos(yaw), 0.0], [0, 0, 1]])
    T = np.eye(4)
    T[:3, :3] = s * R
    T[:3, 3] = mu_dst - s * R @ mu_src
    return T


@dataclass(frozen=True)
class Residual:
    name: str
    role: str  # "control" (used in the fit), "check" (held out), "excluded" (left out by the user)
    d_m: np.ndarray  # [3] measured (transformed mark) minus surveyed, in the CRS: dE, dN, dH
    # control points only: |residual| when this point is left out of the fit, together with the
    # control points flagged as blunders before it (None for check and excluded points, with
    # fewer than 4 controls, or for the 3 left once a blunder is set aside)
    loo_m: float | None
    flagged: bool  # |d| > tolerance, or for a control point loo_m > tolerance

    @property
    def norm_m(self) -> float:
        return float(np.linalg.norm(self.d_m))


@dataclass(frozen=True)
class Georef:
    T_crs_map: np.ndarray  # [4, 4]
    scale: float  # 1.0 for rigid
    epsg: int | None
    residuals: tuple[Residual, ...]
    unmatched_marks: tuple[str, ...]  # marks with no control point of that name
    unmatched_control: tuple[str, ...]  # control points no mark has
    tolerance_m: float
    levelled: bool = False  # heading only: the map was level

    def rms_m(self, role: str) -> float | None:
        """RMS of |d| over the points of that role, None if there are none."""
        if role not in ROLES:
            raise ValueError(f"role {role!r} is not one of {ROLES}")
        norms = [r.norm_m for r in self.residuals if r.role == role]
        return float(np.sqrt(np.mean(np.square(norms)))) if norms else None

    @property
    def flagged(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.residuals if r.flagged)

    def to_dict(self) -> dict:
        """JSON-able: the transform, scale, EPSG, RMS per role and every residual."""
        return {
            "T_crs_map": self.T_crs_map.tolist(),
            "scale": float(self.scale),
            "levelled": self.levelled,
            "epsg": self.epsg,
            "tolerance_m": float(self.tolerance_m),
            "rms_m": {role: self.rms_m(role) for role in ROLES},
            "residuals": [
                {
                    "name": r.name,
                    "role": r.role,
                    "d_m": [float(v) for v in r.d_m],
                    "norm_m": r.norm_m,
                    "loo_m": None if r.loo_m is None else float(r.loo_m),
                    "flagged": bool(r.flagged),
                }
                for r in self.residuals
            ],
            "unmatched_marks": list(self.unmatched_marks),
            "unmatched_control": list(self.unmatched_control),
        }

    def table(self) -> str:
        """A plain-text table for a terminal, in mm: name, role, dE, dN, dH, |d|, LOO, flag;
        then the RMS per role."""
        names = [r.name for r in self.residuals]
        w = max([len("name"), *map(len, names)])
        head = f"{'name':<{w}}  {'role':<8}" + "".join(
            f"  {c:>9}" for c in ("dE[mm]", "dN[mm]", "dH[mm]", "|d|[mm]", "LOO[mm]")
        )
        lines = [head, "-" * (len(head) + 6)]
        for r in self.residuals:
            loo = "-" if r.loo_m is None else f"{r.loo_m * 1e3:.1f}"
            cells = "".join(f"  {v * 1e3:>9.1f}" for v in (*r.d_m, r.norm_m))
            flag = "  > tol" if r.flagged else ""
            lines.append(f"{r.name:<{w}}  {r.role:<8}{cells}  {loo:>9}{flag}")
        lines.append("")
        for role in ROLES:
            rms = self.rms_m(role)
            if rms is not None:
                n = sum(r.role == role for r in self.residuals)
                lines.append(f"RMS {role:<8} {rms * 1e3:8.1f} mm  ({n} points)")
        if self.scale != 1.0:
            lines.append(f"scale {self.scale:.9f} ({(self.scale - 1) * 1e6:+.1f} ppm)")
        lines.append(f"tolerance {self.tolerance_m * 1e3:.1f} mm, EPSG {self.epsg}")
        if self.unmatched_marks:
            lines.append(f"marks without control: {', '.join(self.unmatched_marks)}")
        if self.unmatched_control:
            lines.append(f"control without marks: {', '.join(self.unmatched_control)}")
        return "\n".join(lines)


# a leave-one-out fit whose points lie this close to a line, against the left-out point's distance
# from it, turns millimetres of noise into decimetres about that line: no test of that point
MAX_LINE_LEVERAGE = 10.0


def line_leverage(
    others: np.ndarray,  # [K, 3] the points a fit rests on
    point: np.ndarray,  # [3] where it is evaluated
) -> float:
    """How far `point` lies from the others' best line, over how far they lie from it (RMS):
    a rigid fit on nearly collinear points holds the rotation about their line only to
    noise / their spread across it, so its error at `point` grows with this ratio."""
    centre = others.mean(axis=0)
    _, _, vt = np.linalg.svd(others - centre, full_matrices=False)
    direction = vt[0]

    def off_line(p: np.ndarray) -> np.ndarray:  # [N, 3] -> [N]
        d = p - centre
        return np.linalg.norm(d - np.outer(d @ direction, direction), axis=1)

    spread = float(np.sqrt(np.mean(off_line(others) ** 2)))
    return float(off_line(point[None])[0]) / max(spread, 1e-9)


def _leave_one_out(
    controls: list[ControlPoint],
    src: np.ndarray,  # [K, 3] their marks in the map frame
    dst: np.ndarray,  # [K, 3] surveyed
    scale: bool,
    tolerance_m: float,
    levelled: bool = False,
) -> dict[str, float]:
    """Each control point's residual under the fit on the others (data snooping): the point
    with the largest one, if over the tolerance, is a blunder; it is set aside and the rest are
    tested again without it, while 4 or more remain. So a blunder's pull on the fits does not
    flag its good neighbours. Points left with no such fit (fewer than 4 controls, or 3 left
    after a blunder) have no entry, nor does a point whose others lie too nearly on a line to
    hold the fit's rotation about it (controls along a road: a full rotation, not levelled)."""
    active = list(range(len(controls)))
    loo_m: dict[str, float] = {}
    while len(active) >= 4:
        round_m: dict[int, float] = {}
        for i in active:
            others = [j for j in active if j != i]
            if not levelled and (lever := line_leverage(src[others], src[i])) > MAX_LINE_LEVERAGE:
                log.warning(
                    "no leave-one-out residual for %s: the other control points lie nearly on "
                    "a line (%.0fx as far from it as they are): their fit cannot hold the "
                    "rotation about it",
                    controls[i].name,
                    lever,
                )
                continue
            try:
                T_loo = fit_transform(src[others], dst[others], scale, levelled)
            except GeorefError as e:
                log.warning("no leave-one-out residual for %s: %s", controls[i].name, e)
                continue
            round_m[i] = float(np.linalg.norm(transform(T_loo, src[i : i + 1])[0] - dst[i]))
        worst = max(round_m, key=round_m.__getitem__, default=None)
        if worst is None or round_m[worst] <= tolerance_m:
            loo_m.update((controls[i].name, v) for i, v in round_m.items())
            break
        loo_m[controls[worst].name] = round_m[worst]
        active.remove(worst)
        log.warning(
            "control point %s: %.3f m off the fit on the other %d: a blunder? (testing the "
            "others without it)",
            controls[worst].name,
            round_m[worst],
            len(active),
        )
    return loo_m


def georeference(
    marks_xyz_m: dict[str, np.ndarray],  # name -> [3] the mark's position in the scan's map frame
    control: list[ControlPoint],
    check: Iterable[str] = (),  # names held out as check points
    exclude: Iterable[str] = (),  # names the user excludes
    scale: bool = False,
    tolerance_m: float = 0.05,
    levelled: bool = False,  # the map is level (LiDAR-inertial): heading only (fit_transform)
) -> Georef:
    """Match marks and control points by name, fit T_crs_map on the control role, and evaluate
    every matched point; control points also get a leave-one-out residual when there are at
    least 4 of them (see _leave_one_out). The fit keeps every control point, flagged or not:
    excluding a blunder is the user's call."""
    check, exclude = set(check), set(exclude)
    if not tolerance_m > 0:
        raise GeorefError(f"tolerance {tolerance_m} m is not positive")
    epsgs = {c.epsg for c in control}
    if len(epsgs) > 1:
        raise GeorefError(f"control points in several CRSs: EPSG {sorted(map(str, epsgs))}")
    names = [c.name for c in control]
    if len(set(names)) != len(names):
        raise GeorefError("control points with the same name")
    marks = {}
    for name, xyz in marks_xyz_m.items():
        xyz = np.asarray(xyz, dtype=np.float64).reshape(-1)
        if xyz.shape != (3,) or not np.isfinite(xyz).all():
            raise GeorefError(f"mark {name!r}: need 3 finite coordinates")
        marks[name] = xyz
    matched = [c for c in control if c.name in marks]
    matched_names = {c.name for c in matched}
    for what, given in (("check", check), ("exclude", exclude)):
        unknown = sorted(given - matched_names)
        if unknown:
            raise GeorefError(
                f"{what} names match no mark/control pair: {', '.join(unknown)} "
                f"(pairs: {', '.join(sorted(matched_names)) or 'none'})"
            )
    both = sorted(check & exclude)
    if both:
        raise GeorefError(f"names both checked and excluded: {', '.join(both)}")

    def role(name: str) -> str:
        return "excluded" if name in exclude else "check" if name in check else "control"

    controls = [c for c in matched if role(c.name) == "control"]
    if len(controls) < 3:
        raise GeorefError(
            f"{len(controls)} control points left ({len(matched)} matched, {len(check)} check, "
            f"{len(exclude)} excluded): need at least 3"
        )
    src = np.array([marks[c.name] for c in controls])  # [K, 3]
    dst = np.array([c.xyz_m for c in controls])  # [K, 3]
    T_crs_map = fit_transform(src, dst, scale, levelled)
    s = float(np.cbrt(np.linalg.det(T_crs_map[:3, :3]))) if scale else 1.0

    loo_m = _leave_one_out(controls, src, dst, scale, tolerance_m, levelled)
    residuals = []
    for c in matched:
        d_m = transform(T_crs_map, marks[c.name][None])[0] - c.xyz_m
        d_m.setflags(write=False)
        loo = loo_m.get(c.name)
        flagged = bool(np.linalg.norm(d_m) > tolerance_m or (loo is not None and loo > tolerance_m))
        residuals.append(Residual(c.name, role(c.name), d_m, loo, flagged))
    T_crs_map.setflags(write=False)
    result = Georef(
        T_crs_map=T_crs_map,
        scale=s,
        epsg=next(iter(epsgs)) if epsgs else None,
        residuals=tuple(residuals),
        unmatched_marks=tuple(n for n in marks if n not in matched_names),
        unmatched_control=tuple(c.name for c in control if c.name not in marks),
        tolerance_m=float(tolerance_m),
        levelled=levelled,
    )
    log.info(
        "georeferenced on %d control points: RMS control %s m, check %s m, scale %.9f",
        len(controls),
        _fmt(result.rms_m("control")),
        _fmt(result.rms_m("check")),
        s,
    )
    if result.flagged:
        log.warning("points off by more than %.3f m: %s", tolerance_m, ", ".join(result.flagged))
    return result


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def transform_las(
    src: Path,
    dst: Path,
    T_crs_map: np.ndarray,  # [4, 4]
    epsg: int | None,
    chunk_points: int = 2_000_000,
) -> int:
    """Stream a LAS/LAZ map through T_crs_map into dst (LAS 1.4, the source's point format,
    1 mm scale; .laz compresses), chunk by chunk: every other dimension is kept as is, the CRS
    is written when `epsg` is given. Returns the number of points."""
    import laspy

    from products.export import box_corners, las_header

    src, dst = Path(src), Path(dst)
    T = np.asarray(T_crs_map, dtype=np.float64)
    if T.shape != (4, 4) or not np.isfinite(T).all() or not np.allclose(T[3], [0, 0, 0, 1]):
        raise GeorefError(f"T_crs_map is not a [4, 4] affine transform: {T}")
    if chunk_points < 1:
        raise GeorefError(f"chunk_points {chunk_points} < 1")
    if src.resolve() == dst.resolve():
        raise GeorefError(f"{src}: the source and destination are the same file")
    with laspy.open(src) as reader:
        head = reader.header
        lo, hi = np.asarray(head.mins, np.float64), np.asarray(head.maxs, np.float64)
        lo_crs = transform(T, box_corners(lo, hi)).min(axis=0)
        header = las_header(head.point_format, lo_crs, epsg, "scanner georef")
        header.global_encoding.gps_time_type = head.global_encoding.gps_time_type
        header.system_identifier = head.system_identifier
        compress = dst.suffix.lower() == ".laz"
        n = 0
        with laspy.open(dst, mode="w", header=header, do_compress=compress) as writer:
            for chunk in reader.chunk_iterator(chunk_points):
                xyz = transform(T, np.column_stack([chunk.x, chunk.y, chunk.z]))  # [n, 3]
                out = laspy.ScaleAwarePointRecord.zeros(len(chunk), header=header)
                out.array[:] = chunk.array  # every dimension, then the new coordinates
                out.x, out.y, out.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
                writer.write_points(out)
                n += len(chunk)
    log.info("%s -> %s: %d points (EPSG %s)", src, dst, n, epsg)
    return n


@dataclass(frozen=True)
class Adjustment:
    """The scan bent onto its control points in the pose graph (NavVis's and Emesent's way):
    the rigid fit before, the fit after, and the bent trajectory and anchors (map frame)."""

    before: Georef  # the rigid fit on the trajectory as mapped
    after: Georef  # on the bent trajectory
    T_world_anchor: np.ndarray  # [K, 4, 4] bent, in the map frame (before.T_crs_map's source)
    T_world_lidar: np.ndarray  # [N, 4, 4] bent


def adjust_in_graph(
    result,  # slam.mapping.MappingResult: the scan's finished mapping
    config,  # slam.config.MappingConfig
    marks: list,  # [drivers.sessions.marks.Mark]
    control: list[ControlPoint],
    check: Iterable[str] = (),
    exclude: Iterable[str] = (),
    sigma_m: float = 0.01,  # the control points' survey
    tolerance_m: float = 0.05,
) -> Adjustment:
    """Control points as priors in the scan's pose graph: the rigid fit places the controls in
    the map frame, each control mark becomes a position prior on its submap's anchor (the
    reference point in the anchor's frame, where the trajectory had it), the graph is optimised
    again with its odometry, loops and gravity, and the bent trajectory is fitted once more.
    Check and excluded points take no part; a blunder should be excluded first (the rigid fit
    flags it)."""
    from drivers.sessions.marks import mark_positions
    from slam.mapping import rebuild_graph

    check, exclude = set(check), set(exclude)
    xyz = mark_positions(marks, result.t_s, result.T_world_lidar)  # [M, 3]
    placed = {m.name: p for m, p in zip(marks, xyz, strict=True) if np.isfinite(p).all()}
    before = georeference(placed, control, check, exclude, False, tolerance_m)
    T_map_crs = np.linalg.inv(before.T_crs_map)
    surveyed = {c.name: c.xyz_m for c in control}
    graph = rebuild_graph(result, config, free=True)
    of = result.submap_of_pose
    local = np.linalg.inv(result.T_world_anchor[of]) @ result.T_world_lidar  # [N, 4, 4]
    n_priors = 0
    for m in marks:
        if m.name not in placed or m.name not in surveyed or m.name in check | exclude:
            continue
        i = int(np.clip(np.searchsorted(result.t_s, m.t_s), 0, len(result.t_s) - 1))
        k = int(of[i])  # the submap it was taken in
        p_anchor = transform(np.linalg.inv(result.T_world_anchor[k]), placed[m.name][None])[0]
        target = transform(T_map_crs, surveyed[m.name][None])[0]
        graph.add_position_prior(k, p_anchor, target, sigma_m)
        n_priors += 1
    graph.optimize()
    anchors = graph.poses()
    T_world_lidar = anchors[of] @ local
    xyz = mark_positions(marks, result.t_s, T_world_lidar)
    bent = {m.name: p for m, p in zip(marks, xyz, strict=True) if np.isfinite(p).all()}
    after = georeference(bent, control, check, exclude, False, tolerance_m)
    log.info(
        "%d control points bent the graph: check RMS %s -> %s m",
        n_priors,
        _fmt(before.rms_m("check")),
        _fmt(after.rms_m("check")),
    )
    return Adjustment(before, after, anchors, T_world_lidar)
