"""Marks: named, timestamped points taken during a scan (a control point, a check point).

The operator holds the scanner's reference point (an offset from the lidar, e.g. the tip of the
handle: `reference_point_lidar_m`) on a surveyed point and marks it (a double press of the
button, `POST /api/v1/scans/{id}/marks` or the web view's button). The mark's position is that
point in the map at the mark's time, once the trajectory is known.

On disk, `SESSION/marks.jsonl`: one JSON object a line, appended and fsync'd as each mark is
taken, so a power cut loses none that was acknowledged (a torn last line is skipped with a
warning). After processing, `products/marks.csv`: name, t_s, x_m, y_m, z_m in the map frame.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

MARKS = "marks.jsonl"  # in the session directory
MARKS_CSV = "marks.csv"  # in products/
CONTROL_CSV = "control.csv"  # the surveyed control points (name, easting, northing, height, epsg)
MAX_NAME = 64
REFERENCE_POINT_LIDAR_M = (0.0, 0.0, -0.25)  # the handle's tip, below the lidar (config default)
EDGE_S = 0.5  # a mark this close after the last pose (or before the first) takes that pose


class MarkError(ValueError):
    """A mark that cannot be taken (a bad name, a name taken)."""


class MarkNameTakenError(MarkError):
    """The scan has a mark of that name already."""


@dataclass(frozen=True)
class Mark:
    name: str
    t_ns: int  # on the recording's clock
    reference_point_lidar_m: tuple[float, float, float] = REFERENCE_POINT_LIDAR_M
    source: str = "api"  # api, button, twin

    @property
    def t_s(self) -> float:
        return self.t_ns * 1e-9


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME or any(c in name for c in ',"\n\r\t'):
        raise MarkError(f"a mark's name is 1-{MAX_NAME} characters, without commas or quotes")
    return name


def append_mark(session_dir: Path, mark: Mark) -> None:
    """Append one mark to SESSION/marks.jsonl, on disk before it returns."""
    line = json.dumps(asdict(mark)) + "\n"
    fd = os.open(Path(session_dir) / MARKS, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
        os.fsync(fd)
    finally:
        os.close(fd)


def read_marks(session_dir: Path) -> list[Mark]:
    """The session's marks in the order taken; lines that cannot be read are skipped, logged."""
    path = Path(session_dir) / MARKS
    if not path.exists():
        return []
    marks = []
    for i, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
        if not line.strip():
            continue
        try:
            d = json.loads(line)
            marks.append(
                Mark(
                    name=str(d["name"]),
                    t_ns=int(d["t_ns"]),
                    reference_point_lidar_m=tuple(float(x) for x in d["reference_point_lidar_m"]),
                    source=str(d.get("source", "api")),
                )
            )
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("%s line %d: not a mark (%s): skipped", path, i, exc)
    return marks


def mark_positions(
    marks: list[Mark],
    t_traj_s: np.ndarray,  # [N]
    T_world_lidar: np.ndarray,  # [N, 4, 4]
) -> np.ndarray:  # -> [M, 3] the reference point in the world at each mark; NaN outside
    """Where each mark's reference point was: the trajectory at its time (slerp and linear).
    A mark taken just before the stop, after the last sweep's pose, takes that pose (EDGE_S:
    the operator holds still on a control point); one further outside has none (NaN)."""
    from drivers.sessions.trajectory import poses_at  # scipy: not at import (the config's)

    xyz = np.full((len(marks), 3), np.nan)
    if not marks or len(t_traj_s) == 0:
        return xyz
    t = np.array([m.t_s for m in marks])
    lo, hi = float(np.min(t_traj_s)), float(np.max(t_traj_s))
    t = np.where((t < lo) & (t >= lo - EDGE_S), lo, np.where((t > hi) & (t <= hi + EDGE_S), hi, t))
    keep, T = poses_at(t, t_traj_s, T_world_lidar)
    ref = np.array([m.reference_point_lidar_m for m in marks])[keep]  # [k, 3]
    xyz[keep] = np.einsum("kij,kj->ki", T[:, :3, :3], ref) + T[:, :3, 3]
    return xyz


def write_marks_csv(path: Path, marks: list[Mark], xyz_m: np.ndarray) -> None:  # [M, 3]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["name", "t_s", "x_m", "y_m", "z_m", "source"])
        for m, p in zip(marks, xyz_m, strict=True):
            w.writerow([m.name, f"{m.t_s:.6f}", *(f"{v:.4f}" for v in p), m.source])


def read_marks_csv(path: Path) -> dict[str, np.ndarray]:
    """products/marks.csv -> name -> [3] position in the map frame (marks outside the
    trajectory, written as nan, are left out)."""
    out = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            p = np.array([float(row["x_m"]), float(row["y_m"]), float(row["z_m"])])
            if np.isfinite(p).all():
                out[row["name"]] = p
    return out
