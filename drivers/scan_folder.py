"""A folder of scans as a lidar source: `.pcd` (ascii, binary, binary_compressed), `.ply`, `.npy`.

The convention is kiss-icp's generic one: files sorted by name, one scan each, and an optional
`times.txt` with one time in seconds per line in the same order. Reading a file is a pure function
that raises `ScanReadError`; the source logs and counts a bad file and goes on with the next.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from drivers.frames import LidarSweep
from drivers.source import Counter, Sensor, SensorHealth, Tagged

log = logging.getLogger(__name__)

SCAN_SUFFIXES = (".pcd", ".ply", ".npy")
_TIME_FIELDS = ("t", "time", "timestamp", "offset_time")  # per-point time, first match wins


class ScanReadError(ValueError):
    """A scan file (or folder) that cannot be read; the message says which and why."""


def read_scan(path: Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Read one scan file -> (xyz_m [N, 3] float64, intensity [N] | None, point_t [N] | None).

    Per-point times are returned as stored (their unit is the file's); see `normalize_point_times`.
    """
    path = Path(path)
    readers = {".pcd": _read_pcd, ".ply": _read_ply, ".npy": _read_npy}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ScanReadError(f"{path}: unsupported scan format {path.suffix!r}")
    try:
        return reader(path)
    except ScanReadError:
        raise
    except Exception as exc:  # the libraries raise many types for corrupt files
        reason = " ".join(str(exc).split())[:300]  # one line, however chatty the library
        raise ScanReadError(f"{path}: cannot read ({type(exc).__name__}: {reason})") from exc


def _columns(path: Path, names: tuple[str, ...], get) -> tuple:
    missing = [c for c in "xyz" if c not in names]
    if missing:
        raise ScanReadError(f"{path}: no field(s) {', '.join(missing)} (has {', '.join(names)})")
    xyz = np.column_stack([np.asarray(get(c), dtype=np.float64) for c in "xyz"])
    intensity = np.asarray(get("intensity"), dtype=np.float32) if "intensity" in names else None
    tf = next((f for f in _TIME_FIELDS if f in names), None)
    point_t = np.asarray(get(tf), dtype=np.float64) if tf else None
    n = len(xyz)
    if xyz.shape != (n, 3) or any(a is not None and a.shape != (n,) for a in (intensity, point_t)):
        raise ScanReadError(f"{path}: fields must hold one number per point (xyz: {xyz.shape})")
    return xyz, intensity, point_t


def _read_pcd(path: Path):
    from pypcd4 import PointCloud

    pc = PointCloud.from_path(path)
    data = pc.pc_data  # structured array
    if len(data) != pc.metadata.points:
        raise ScanReadError(f"{path}: header says {pc.metadata.points} points, found {len(data)}")
    return _columns(path, tuple(data.dtype.names), lambda f: data[f])


def _read_ply(path: Path):
    from plyfile import PlyData

    ply = PlyData.read(str(path))
    if "vertex" not in ply:
        raise ScanReadError(f"{path}: PLY has no vertex element")
    v = ply["vertex"].data
    return _columns(path, tuple(v.dtype.names), lambda f: v[f])


def _read_npy(path: Path):
    a = np.load(path, allow_pickle=False)
    if not isinstance(a, np.ndarray):  # an .npz archive (an open NpzFile) under an .npy name
        a.close()
        raise ScanReadError(f"{path}: an .npz archive, not one .npy array")
    if a.dtype.names:
        a = a.reshape(-1)  # an organized [H, W] cloud -> [H * W] points
        return _columns(path, tuple(a.dtype.names), lambda f: a[f])
    if a.ndim != 2 or a.shape[1] < 3:
        raise ScanReadError(f"{path}: expected an [N, 3+] array (x y z [intensity]), got {a.shape}")
    intensity = a[:, 3].astype(np.float32) if a.shape[1] > 3 else None
    return a[:, :3].astype(np.float64), intensity, None


def normalize_point_times(point_t: np.ndarray) -> np.ndarray:
    """Per-point times in an unknown unit -> float32 seconds after the first point.

    Recorders store seconds, microseconds or nanoseconds; the span of one sweep (< 1 s) tells.
    """
    dt = point_t - np.min(point_t)
    span = float(np.max(dt)) if len(dt) else 0.0
    scale = 1.0 if span <= 1.0 else 1e-6 if span <= 1e6 else 1e-9
    return (dt * scale).astype(np.float32)


class ScanFolderSource:
    """A folder of scans as a Source of lidar sweeps. Bad files are logged, counted (as the
    lidar's errors) and skipped."""

    def __init__(self, folder: Path, default_period_s: float = 0.1) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ScanReadError(f"{self.folder}: no such folder")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in SCAN_SUFFIXES)
        if not self.files:
            raise ScanReadError(f"{self.folder}: no .pcd, .ply or .npy scans in this folder")
        self.times_s = self._read_times(default_period_s)
        self.skipped: list[tuple[Path, str]] = []
        self._counter = Counter((Sensor.lidar,))

    def _read_times(self, default_period_s: float) -> np.ndarray:
        times_file = self.folder / "times.txt"
        if not times_file.exists():
            return np.arange(len(self.files)) * default_period_s
        try:
            times = np.atleast_1d(np.loadtxt(times_file, dtype=np.float64, ndmin=1))
        except ValueError as exc:
            raise ScanReadError(f"{times_file}: not one number per line ({exc})") from exc
        if len(times) != len(self.files):
            raise ScanReadError(
                f"{times_file}: {len(times)} times for {len(self.files)} scans; they must match"
            )
        if not np.all(np.isfinite(times)) or np.any(np.diff(times) <= 0):
            raise ScanReadError(f"{times_file}: times must be finite and increasing")
        return times

    def __len__(self) -> int:
        return len(self.files)

    def frames(self) -> Iterator[Tagged]:
        self.skipped = []
        self._counter = Counter((Sensor.lidar,))
        for i, (path, t_s) in enumerate(zip(self.files, self.times_s, strict=True)):
            try:
                xyz, intensity, point_t = read_scan(path)
            except ScanReadError as exc:
                log.warning("skipping scan: %s", exc)
                self.skipped.append((path, str(exc)))
                self._counter.error(Sensor.lidar)
                continue
            dt = normalize_point_times(point_t) if point_t is not None and len(point_t) else None
            sweep = LidarSweep(
                t_ns=round(t_s * 1e9), xyz_m=xyz, intensity=intensity, point_dt_s=dt, index=i
            )
            yield self._counter.count(Tagged(Sensor.lidar, sweep))

    def health(self) -> dict[Sensor, SensorHealth]:
        return self._counter.health()

    def close(self) -> None:
        pass  # each scan file is opened and closed as it is read
