"""Submaps: the odometry's output cut into pieces a few metres long, each kept on disk.

A submap holds every deskewed point of its sweeps at the products' resolution (one point per
voxel: the mean of what fell in it, with the mean intensity and the time it was first seen), in
the frame of its anchor (the lidar's pose at its first sweep), with the sweeps' poses in that
frame. The pose graph moves anchors; the points ride along rigidly. So the products of a scan
are the submaps placed at their optimised anchors, without a second SLAM pass, and memory stays
flat however long the scan: only the submap being filled is in memory.

On disk: `submaps/NNNNN.npz` (numpy's zip, written to a temporary name and then renamed, so a
power cut leaves whole files only). Each also holds a coarse cloud for loop verification.
"""

from __future__ import annotations

import logging
import os
import struct
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numba as nb
import numpy as np

from drivers.frames import LidarSweep
from slam.odometry import OdometryStep
from slam.preprocess import voxel_downsample
from slam.se3 import se3_inv, transform
from slam.voxel_hash import _EMPTY, _hash, _pack

log = logging.getLogger(__name__)

COMPACT_EVERY = 3_000_000  # points added between two merges of the voxels
RAY_EVERY = 8  # every 8th point of a sweep is kept as a ray, for the removal of moving things


class VoxelMeans:
    """Points merged one per voxel: the weighted mean position (which averages range noise
    down), the mean intensity and the earliest time. Merges lazily, so adding is cheap."""

    def __init__(self, voxel_m: float) -> None:
        self.voxel_m = voxel_m
        self._xyz: list[np.ndarray] = []  # [Ni, 3] float64
        self._w: list[np.ndarray] = []  # [Ni] float32, points behind each mean
        self._intensity: list[np.ndarray] = []  # [Ni] float32
        self._t: list[np.ndarray] = []  # [Ni] float64
        self._pending = 0
        self._merged = False  # one chunk, already merged

    def add(
        self,
        xyz: np.ndarray,  # [N, 3]
        intensity: np.ndarray,  # [N]
        t_s: np.ndarray,  # [N]
        weight: np.ndarray | None = None,  # [N]; None: one point each
    ) -> None:
        self._xyz.append(np.asarray(xyz, np.float64))
        self._w.append(np.ones(len(xyz), np.float32) if weight is None else weight)
        self._intensity.append(np.asarray(intensity, np.float32))
        self._t.append(np.asarray(t_s, np.float64))
        self._pending += len(xyz)
        if self._pending > COMPACT_EVERY:
            self._compact()

    def __len__(self) -> int:
        return sum(len(x) for x in self._xyz)

    def _compact(self) -> None:
        self._pending = 0
        if len(self._xyz) == 0 or (len(self._xyz) == 1 and self._merged):
            return
        xyz, w, intensity, t = (
            parts[0] if len(parts) == 1 else np.concatenate(parts)  # one chunk: read in place
            for parts in (self._xyz, self._w, self._intensity, self._t)
        )
        mean, wsum, mean_i, first_t = _voxel_means(xyz, w, intensity, t, self.voxel_m)
        self._xyz, self._w, self._intensity, self._t = [mean], [wsum], [mean_i], [first_t]
        self._merged = True

    def result(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """-> xyz [M, 3] float64, weight [M] float32, intensity [M] float32, t_s [M] float64."""
        if not self._xyz:
            return np.zeros((0, 3)), np.zeros(0, np.float32), np.zeros(0, np.float32), np.zeros(0)
        self._compact()
        return self._xyz[0], self._w[0], self._intensity[0], self._t[0]


@nb.njit(cache=True, nogil=True)  # the map's tiles are merged by two threads at once
def _voxel_means(xyz, w, intensity, t, voxel_m):  # [N, 3], [N], [N], [N]
    """One pass over the points with a hash table from voxel key to voxel (in the order first
    met): the weighted mean position and intensity, the summed weight, the earliest time. The
    table keeps each key beside its voxel's slot, and each voxel's sums lie together: one cache
    line each, as the pass is bound by memory."""
    n = xyz.shape[0]
    size = 1
    while size < 2 * n:
        size *= 2
    table = np.full((size, 2), _EMPTY)  # key, slot
    mask = size - 1
    acc = np.zeros((n, 6))  # w x, w y, w z, w intensity, w, first t
    m = 0
    for p in range(n):
        x, y, z = xyz[p, 0], xyz[p, 1], xyz[p, 2]
        key = _pack(
            int(np.floor(x / voxel_m)), int(np.floor(y / voxel_m)), int(np.floor(z / voxel_m))
        )  # voxel_keys's
        i = _hash(key, mask)
        while table[i, 0] != key and table[i, 0] != _EMPTY:
            i = (i + 1) & mask
        if table[i, 0] == _EMPTY:
            table[i, 0] = key
            table[i, 1] = m
            acc[m, 5] = np.inf
            m += 1
        v = table[i, 1]
        wp = np.float64(w[p])
        acc[v, 0] += wp * x
        acc[v, 1] += wp * y
        acc[v, 2] += wp * z
        acc[v, 3] += wp * intensity[p]
        acc[v, 4] += wp
        acc[v, 5] = min(acc[v, 5], t[p])
    mean = np.empty((m, 3))
    mean_i = np.empty(m, np.float32)
    wsum = np.empty(m, np.float32)
    first_t = np.empty(m)
    for v in range(m):
        mean[v, 0] = acc[v, 0] / acc[v, 4]
        mean[v, 1] = acc[v, 1] / acc[v, 4]
        mean[v, 2] = acc[v, 2] / acc[v, 4]
        mean_i[v] = acc[v, 3] / acc[v, 4]
        wsum[v] = acc[v, 4]
        first_t[v] = acc[v, 5]
    return mean, wsum, mean_i, first_t


@dataclass(frozen=True)
class SubmapContent:
    """What each submap keeps of its sweeps: the products' density, without its isolated
    outliers (a false return, a mixed point at a depth edge; removed as the submap is saved,
    judged in its own view, so that the map at the stop only places and merges), and for the
    removal of moving things a subsample of its rays."""

    voxel_m: float = 0.02  # one point per voxel
    outlier_neighbors: int = 8  # statistical outlier removal: k; 0 = off
    outlier_std: float = 2.5  # ... beyond the submap's mean k-NN distance by this many sigma
    keep_rays: bool = False


def inliers(xyz: np.ndarray, k: int, n_std: float) -> np.ndarray:  # [N, 3] -> [N] bool
    """Statistical outlier removal: mean distance to the k nearest neighbours against the
    cloud's mean plus n_std standard deviations (PCL's and open3d's rule). scipy's k-d tree,
    which lets go of the GIL: the live SLAM goes on while a submap is cleared (open3d's kernel
    is 2.5x faster but holds the GIL, and stalled the live SLAM)."""
    from scipy.spatial import cKDTree

    if k == 0 or len(xyz) <= k + 1:
        return np.ones(len(xyz), bool)
    d, _ = cKDTree(xyz).query(xyz, k=k + 1)
    mean_d = d[:, 1:].mean(axis=1)
    return mean_d <= mean_d.mean() + n_std * mean_d.std()


def without_outliers(submap: Submap, content: SubmapContent) -> Submap:
    """The submap without its isolated points (`inliers`)."""
    ok = inliers(submap.xyz_m, content.outlier_neighbors, content.outlier_std)
    if ok.all():
        return submap
    return replace(
        submap, xyz_m=submap.xyz_m[ok], weight=submap.weight[ok],
        intensity=submap.intensity[ok], t_s=submap.t_s[ok],
    )  # fmt: skip


@dataclass(frozen=True)
class Submap:
    """One submap, in the frame of its anchor."""

    index: int
    T_world_anchor: np.ndarray  # [4, 4] where the odometry put the anchor
    path_m: float  # path walked from this anchor to the next
    pose_t_s: np.ndarray  # [S] the sweeps' pose times
    T_anchor_lidar: np.ndarray  # [S, 4, 4] the sweeps' poses
    xyz_m: np.ndarray  # [N, 3] float32 voxel means
    weight: np.ndarray  # [N] float32
    intensity: np.ndarray  # [N] float32
    t_s: np.ndarray  # [N] float64 first seen
    ray_origins: np.ndarray  # [R, 3] float32, the sensor for each kept ray
    ray_ends: np.ndarray  # [R, 3] float32
    coarse_m: np.ndarray  # [C, 3] float32 the points at the loop verification's resolution

    def save(self, folder: Path) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        path = submap_path(folder, self.index)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez(
                f,
                index=self.index,
                T_world_anchor=self.T_world_anchor,
                path_m=self.path_m,
                pose_t_s=self.pose_t_s,
                T_anchor_lidar=self.T_anchor_lidar,
                xyz_m=self.xyz_m,
                weight=self.weight,
                intensity=self.intensity,
                t_s=self.t_s,
                ray_origins=self.ray_origins,
                ray_ends=self.ray_ends,
                coarse_m=self.coarse_m,
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path


def submap_path(folder: Path, index: int) -> Path:
    return folder / f"{index:05d}.npz"


def load_submap(path: Path, mmap: bool = False) -> Submap:
    """A saved submap; with `mmap`, its arrays are read-only maps of the file (no copy, no CRC
    pass: the map's placing reads each point once)."""
    if mmap:
        return Submap(**_mapped_npz(path))
    with np.load(path) as z:
        return Submap(**{k: (z[k] if z[k].ndim else z[k].item()) for k in z.files})


def _mapped_npz(path: Path) -> dict:
    """The members of an uncompressed .npz (np.savez's) as memory maps; scalars as values."""
    out: dict = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as f:
        for info in zf.infolist():
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"{path}: {info.filename} is compressed")
            f.seek(info.header_offset)
            local = f.read(30)  # the zip's local file header, then its name and extra field
            if local[:4] != b"PK\x03\x04":
                raise ValueError(f"{path}: bad local header for {info.filename}")
            n_name, n_extra = struct.unpack("<HH", local[26:30])
            f.seek(info.header_offset + 30 + n_name + n_extra)
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = read_header(f)
            name = info.filename.removesuffix(".npy")
            if not shape:
                out[name] = np.frombuffer(f.read(dtype.itemsize), dtype)[0].item()
            elif 0 in shape:
                out[name] = np.zeros(shape, dtype)
            else:
                order = "F" if fortran else "C"
                out[name] = np.memmap(path, dtype, "r", f.tell(), shape, order)
    return out


def load_member(path: Path, name: str) -> np.ndarray:
    """One array of a submap, e.g. its `coarse_m` or `xyz_m` (numpy reads one member of the
    zip, not the rest)."""
    with np.load(path) as z:
        return z[name]


def submap_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("[0-9]" * 5 + ".npz"))


@dataclass
class SubmapBuilder:
    """Fills one submap from the odometry's steps."""

    index: int
    T_world_anchor: np.ndarray  # [4, 4]
    content: SubmapContent
    coarse_voxel_m: float
    path_m: float = 0.0
    first_t_s: float | None = None
    last_t_s: float | None = None
    _points: VoxelMeans = field(init=False)
    _pose_t: list[float] = field(default_factory=list)
    _poses: list[np.ndarray] = field(default_factory=list)
    _ray_o: list[np.ndarray] = field(default_factory=list)
    _ray_e: list[np.ndarray] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._points = VoxelMeans(self.content.voxel_m)
        self._T_anchor_world = se3_inv(self.T_world_anchor)

    def add(self, step: OdometryStep, sweep: LidarSweep) -> None:
        if step.scan_world is None:
            raise ValueError("the engine must run with full_scan=True for submaps")
        t_s = step.t_ns * 1e-9
        if self._poses:
            self.path_m += float(np.linalg.norm(step.T_world_lidar[:3, 3] - self._poses[-1][:3, 3]))
        T_anchor_lidar = self._T_anchor_world @ step.T_world_lidar
        self._pose_t.append(t_s)
        self._poses.append(step.T_world_lidar)
        self.first_t_s = t_s if self.first_t_s is None else self.first_t_s
        self.last_t_s = t_s
        xyz = transform(self._T_anchor_world, step.scan_world)
        idx = step.scan_index
        intensity = (
            sweep.intensity[idx] if sweep.intensity is not None else np.zeros(len(idx), np.float32)
        )
        dt = sweep.point_dt_s[idx] if sweep.point_dt_s is not None else 0.0
        self._points.add(xyz, intensity, sweep.t_ns * 1e-9 + dt * np.ones(len(idx)))
        if self.content.keep_rays:
            ends = xyz[::RAY_EVERY].astype(np.float32)
            self._ray_e.append(ends)
            self._ray_o.append(np.repeat(T_anchor_lidar[None, :3, 3], len(ends), 0))

    @property
    def n_sweeps(self) -> int:
        return len(self._poses)

    def finish(self) -> Submap:
        xyz, w, intensity, t = self._points.result()
        xyz32 = xyz.astype(np.float32)
        coarse = xyz32[voxel_downsample(xyz32, self.coarse_voxel_m)] if len(xyz32) else xyz32
        empty = np.zeros((0, 3), np.float32)
        return Submap(
            index=self.index,
            T_world_anchor=self.T_world_anchor,
            path_m=self.path_m,
            pose_t_s=np.array(self._pose_t),
            T_anchor_lidar=self._T_anchor_world @ np.array(self._poses).reshape(-1, 4, 4),
            xyz_m=xyz32,
            weight=w,
            intensity=intensity,
            t_s=t,
            ray_origins=np.concatenate(self._ray_o).astype(np.float32) if self._ray_o else empty,
            ray_ends=np.concatenate(self._ray_e) if self._ray_e else empty,
            coarse_m=coarse,
        )
