"""The final map: every deskewed point of every registered sweep, thinned to a chosen density,
with its intensity and time, and without isolated outliers. It is made of the SLAM's submaps
(slam/submaps.py, each already thinned to this density and cleared of its outliers) placed where
the pose graph put them.

A 30-minute site scan holds some hundred million points at 2 cm: more than the device's memory
wants to hold at once. So the map is built out of core, in square tiles (`TILE_M`), each
merged in place whenever revisits have grown it (`COMPACT_POINTS`):
1. scatter: each submap, placed at its anchor, has its points sorted into the tiles on disk
   (and, for the removal of moving things, its rays into every tile they cross);
2. merge, a tile at a time, as soon as no later submap can reach it (while the next submaps
   are placed; all at the end with the removal of moving things): one point per voxel (the
   weighted mean of what fell in it), moving things removed, the rest appended to the map's
   columns on disk.
The map comes back memory-mapped from those columns, tile after tile and in the order the
scanner saw the points within a tile; the writers (products/export.py) stream it in chunks.
"""

from __future__ import annotations

import logging
import shutil
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numba as nb
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from slam.se3 import transform
from slam.submaps import Submap, SubmapContent, VoxelMeans, inliers

__all__ = ["MapBuilder", "MapCloud", "ProductsConfig", "inliers", "map_from_submaps"]

log = logging.getLogger(__name__)

TILE_M = 12.5  # side of a tile; a multiple of the voxel is used
SPILL_BYTES = 768 << 20  # scattered points held in memory before they go to their tiles' files
LATE_MARGIN_M = 1.0  # beyond the coarse clouds' voxel diagonal (0.43 m at 0.25 m)
COMPACT_POINTS = 4_000_000  # a tile's file merged in place when it grows past this (revisits)

POINT = np.dtype([("xyz", "<f8", (3,)), ("w", "<f4"), ("i", "<f4"), ("t", "<f8")])
RAY = np.dtype([("o", "<f4", (3,)), ("e", "<f4", (3,))])  # the sensor, the measured point


class ProductsConfig(BaseModel):
    """What post-processing makes of a session."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    map_voxel_m: float = Field(0.02, gt=0.0, le=1.0, description="map density: one point per voxel")
    outlier_neighbors: int = Field(
        8, ge=0, description="statistical outlier removal in each submap: k; 0 = off"
    )
    outlier_std: float = Field(
        2.5,
        gt=0.0,
        description="drop points whose mean k-NN distance"
        " exceeds the submap's mean by this many standard deviations",
    )
    formats: list[Literal["las", "laz", "e57", "ply", "pcd", "copc"]] = Field(
        ["laz", "e57", "pcd"],
        description="map files to make besides map.ply (always made: it holds every field); "
        "copc: map.copc.laz, the LAZ in an octree for viewers that page it",
    )
    remove_moving: bool = Field(
        False, description="drop points in space the scanner also saw through (people passing)"
    )
    colour: bool = Field(True, description="colour the map from the camera, when there is one")
    epsg: int | None = Field(None, description="CRS written into LAS/LAZ (the map is local: None)")

    def submap_content(self) -> SubmapContent:
        """What the SLAM's submaps keep for these products."""
        return SubmapContent(
            self.map_voxel_m, self.outlier_neighbors, self.outlier_std, self.remove_moving
        )


@dataclass(frozen=True)
class MapCloud:
    """A map ready to export. Points are in the SLAM world frame (metres, z up). The arrays may
    be memory-mapped files (MapBuilder's): read them in chunks."""

    xyz_m: np.ndarray  # [N, 3] float64
    intensity: np.ndarray  # [N] float32, the Mid-360's reflectivity 0..255
    t_s: np.ndarray  # [N] float64, on the recording's clock
    rgb: np.ndarray | None = None  # [N, 3] uint8
    coloured: np.ndarray | None = None  # [N] bool: the camera saw the point

    def __len__(self) -> int:
        return len(self.xyz_m)


def by_tile(
    tile_xy: np.ndarray,  # [N, 2] int64
    dtype: np.dtype,
    **columns: np.ndarray,  # [N, ...] each, by dtype's field names
) -> list[tuple[tuple[int, int], np.ndarray]]:
    """The columns as records of `dtype`, split by tile: (tile, its records) for each tile
    they fall in."""
    if len(tile_xy) == 0:
        return []
    lo = tile_xy.min(axis=0)
    rows = int(tile_xy[:, 1].max() - lo[1]) + 1
    local = (tile_xy[:, 0] - lo[0]) * rows + (tile_xy[:, 1] - lo[1])  # a submap: a few dozen
    small = np.uint16 if local.max() < 1 << 16 else np.uint32  # numpy radix-sorts 16 bits
    order = np.argsort(local.astype(small), kind="stable")
    local = local[order]
    records = np.empty(len(order), dtype)
    for name, column in columns.items():  # gathered column by column: faster than records
        records[name] = column[order]
    starts = np.flatnonzero(np.r_[True, local[1:] != local[:-1]])
    keys = [(int(lo[0] + v // rows), int(lo[1] + v % rows)) for v in local[starts]]
    return list(zip(keys, np.split(records, starts[1:]), strict=True))


@nb.njit(cache=True, nogil=True)  # the submaps are placed by two threads at once
def _place_by_tile(
    xyz_anchor: np.ndarray,  # [N, 3] float32, the submap's points
    T_world_anchor: np.ndarray,  # [4, 4]
    voxel_m: float,
    voxels_per_tile: int,
    w: np.ndarray,  # [N] float32
    intensity: np.ndarray,  # [N] float32
    t_s: np.ndarray,  # [N] float64
    out_xyz: np.ndarray,  # [N, 3] float64 (a POINT column)
    out_w: np.ndarray,  # [N] float32
    out_i: np.ndarray,  # [N] float32
    out_t: np.ndarray,  # [N] float64
) -> tuple[int, int, int, np.ndarray]:  # lowest tile x, y, tiles per row, [rows * cols] counts
    """The points in the world, written tile after tile (in their order within a tile) into the
    out columns: a counting sort on the tile of each point's voxel, in two passes."""
    n = len(xyz_anchor)
    R, p = T_world_anchor[:3, :3], T_world_anchor[:3, 3]
    tile = np.empty((n, 2), np.int64)
    for k in range(n):
        x, y, z = float(xyz_anchor[k, 0]), float(xyz_anchor[k, 1]), float(xyz_anchor[k, 2])
        tile[k, 0] = np.int64(np.floor((R[0, 0] * x + R[0, 1] * y + R[0, 2] * z + p[0]) / voxel_m))
        tile[k, 1] = np.int64(np.floor((R[1, 0] * x + R[1, 1] * y + R[1, 2] * z + p[1]) / voxel_m))
        tile[k, 0] = tile[k, 0] // voxels_per_tile
        tile[k, 1] = tile[k, 1] // voxels_per_tile
    lo_x, lo_y = tile[:, 0].min(), tile[:, 1].min()
    rows = tile[:, 1].max() - lo_y + 1
    counts = np.zeros((tile[:, 0].max() - lo_x + 1) * rows, np.int64)
    local = (tile[:, 0] - lo_x) * rows + (tile[:, 1] - lo_y)
    for k in range(n):
        counts[local[k]] += 1
    at = np.empty_like(counts)
    total = 0
    for c in range(len(counts)):
        at[c] = total
        total += counts[c]
    for k in range(n):
        j = at[local[k]]
        at[local[k]] += 1
        x, y, z = float(xyz_anchor[k, 0]), float(xyz_anchor[k, 1]), float(xyz_anchor[k, 2])
        for a in range(3):
            out_xyz[j, a] = R[a, 0] * x + R[a, 1] * y + R[a, 2] * z + p[a]
        out_w[j], out_i[j], out_t[j] = w[k], intensity[k], t_s[k]
    return lo_x, lo_y, rows, counts


def place_by_tile(
    xyz_anchor: np.ndarray,  # [N, 3] float32
    T_world_anchor: np.ndarray,  # [4, 4]
    voxel_m: float,
    voxels_per_tile: int,
    weight: np.ndarray,  # [N] float32
    intensity: np.ndarray,  # [N] float32
    t_s: np.ndarray,  # [N] float64
) -> list[tuple[tuple[int, int], np.ndarray]]:
    """A submap's points placed in the world as POINT records, split by the tile of their
    voxel: (tile, its records) for each tile they fall in (by_tile's, in one compiled pass)."""
    if len(xyz_anchor) == 0:
        return []
    records = np.empty(len(xyz_anchor), POINT)
    lo_x, lo_y, rows, counts = _place_by_tile(
        np.ascontiguousarray(xyz_anchor, np.float32), np.asarray(T_world_anchor, np.float64),
        float(voxel_m), int(voxels_per_tile), np.asarray(weight, np.float32),
        np.asarray(intensity, np.float32), np.asarray(t_s, np.float64),
        records["xyz"], records["w"], records["i"], records["t"],
    )  # fmt: skip
    used = np.flatnonzero(counts)
    ends = np.cumsum(counts)[used]
    keys = [(int(lo_x + c // rows), int(lo_y + c % rows)) for c in used]
    return list(zip(keys, np.split(records, ends[:-1]), strict=True))


class _Tiles:
    """Records sorted into tiles, each tile a file of records in `folder`; held in memory until
    `budget` bytes are pending, then appended to their files."""

    def __init__(self, folder: Path, dtype: np.dtype, budget: int) -> None:
        self.folder, self.dtype, self.budget = folder, dtype, budget
        folder.mkdir(parents=True, exist_ok=True)
        self._pending: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
        self._bytes = 0
        self.count: dict[tuple[int, int], int] = defaultdict(int)

    def add(self, parts: list[tuple[tuple[int, int], np.ndarray]]) -> None:  # by_tile's
        for key, part in parts:
            self._pending[key].append(part)
            self.count[key] += len(part)
            self._bytes += part.nbytes
        if self._bytes > self.budget:
            self.flush()

    def flush(self, keys: list[tuple[int, int]] | None = None) -> None:
        """Pending records to their files: every tile's, or only those of `keys`."""
        for key in list(self._pending) if keys is None else keys:
            parts = self._pending.pop(key, [])
            if not parts:
                continue
            with open(self._path(key), "ab") as f:
                for part in parts:
                    f.write(memoryview(part).cast("B"))
                    self._bytes -= part.nbytes

    def take(self, key: tuple[int, int]) -> np.ndarray:
        """A tile's records, from its file and from memory, and the tile gone from both."""
        parts = self._pending.pop(key, [])
        self._bytes -= sum(part.nbytes for part in parts)
        path = self._path(key)
        if path.exists():
            parts.insert(0, np.fromfile(path, self.dtype))
            path.unlink()
        return np.concatenate(parts) if parts else np.zeros(0, self.dtype)

    def replace(self, key: tuple[int, int], records: np.ndarray) -> None:
        """A tile's file (flushed) replaced by `records`."""
        tmp = self._path(key).with_suffix(".tmp")
        records.tofile(tmp)
        tmp.replace(self._path(key))
        self.count[key] = len(records)

    def read(self, key: tuple[int, int]) -> np.ndarray:
        path = self._path(key)
        return np.fromfile(path, self.dtype) if path.exists() else np.zeros(0, self.dtype)

    def _path(self, key: tuple[int, int]) -> Path:
        return self.folder / f"{key[0]}_{key[1]}.bin"


class _Columns:
    """The map's columns, appended tile after tile to files in `folder`."""

    NAMES = (("xyz", np.float64, 3), ("intensity", np.float32, 1), ("t", np.float64, 1))

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.n = 0
        for name, _, _ in self.NAMES:
            (folder / f"{name}.bin").write_bytes(b"")

    def append(self, xyz: np.ndarray, intensity: np.ndarray, t_s: np.ndarray) -> None:
        if len(xyz) == 0:
            return
        for (name, dtype, _), column in zip(self.NAMES, (xyz, intensity, t_s), strict=True):
            with open(self.folder / f"{name}.bin", "ab") as f:
                f.write(memoryview(np.ascontiguousarray(column, dtype)).cast("B"))
        self.n += len(xyz)

    def close(self) -> MapCloud:
        if self.n == 0:
            return MapCloud(np.zeros((0, 3)), np.zeros(0, np.float32), np.zeros(0))
        cols = {
            name: np.memmap(
                self.folder / f"{name}.bin",
                dtype,
                "r",
                shape=(self.n, width) if width > 1 else (self.n,),
            )
            for name, dtype, width in self.NAMES
        }
        return MapCloud(cols["xyz"], cols["intensity"], cols["t"])


class MapBuilder:
    """The map of a scan from its submaps, each placed at its optimised anchor, built out of
    core in `work_dir` (see the module's docstring). One point per voxel: the weighted mean of
    what fell in it (which averages the range noise down), with the mean intensity and the time
    it was first seen."""

    def __init__(
        self,
        voxel_m: float,
        work_dir: Path,
        remove_moving: bool = False,  # then the submaps' rays are used
        tile_m: float = TILE_M,
        spill_bytes: int = SPILL_BYTES,
    ) -> None:
        self.voxel_m = voxel_m
        self.work_dir = Path(work_dir)
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        self.remove_moving = remove_moving
        self.voxels_per_tile = max(1, round(tile_m / voxel_m))
        self.tile_m = self.voxels_per_tile * voxel_m
        self._points = _Tiles(self.work_dir / "tiles", POINT, spill_bytes)
        self._rays = _Tiles(self.work_dir / "rays", RAY, spill_bytes)
        self._merged_size: dict[tuple[int, int], int] = {}  # voxels at a tile's last merge
        self._done: set[tuple[int, int]] = set()  # tiles already merged into the map
        self._late: list[tuple[tuple[int, int], np.ndarray]] = []  # points for a done tile

    def add_submap(self, submap: Submap, T_world_anchor: np.ndarray) -> None:  # [4, 4]
        self.keep(self.place(submap, T_world_anchor))

    def place(self, submap: Submap, T_world_anchor: np.ndarray) -> _Placed:  # [4, 4]
        """The submap's points (and rays) in the world, with their tiles; thread-safe."""
        rays = None
        if self.remove_moving and len(submap.ray_ends):
            rays = self._rays_by_tile(
                transform(T_world_anchor, submap.ray_origins.astype(np.float64)),
                transform(T_world_anchor, submap.ray_ends.astype(np.float64)),
            )
        points = place_by_tile(
            submap.xyz_m, T_world_anchor, self.voxel_m, self.voxels_per_tile,
            submap.weight, submap.intensity, submap.t_s,
        )  # fmt: skip
        return _Placed(points, rays)

    def keep(self, placed: _Placed) -> None:
        """A placed submap into the tiles. A tile that a revisit has grown past COMPACT_POINTS
        (and twice its last merged size) is merged in place, so that no tile needs more memory
        than its own voxels however often the walk comes back to it."""
        points = placed.points
        if self._done and any(key in self._done for key, _ in points):
            late = [(key, part) for key, part in points if key in self._done]
            log.warning("%d points came for a tile already merged; merged apart",
                        sum(len(part) for _, part in late))  # fmt: skip
            self._late.extend(late)
            points = [(key, part) for key, part in points if key not in self._done]
        self._points.add(points)
        if placed.rays is not None:
            self._rays.add(placed.rays)
        grown = [
            key
            for key, _ in points
            if self._points.count[key] > max(COMPACT_POINTS, 2 * self._merged_size.get(key, 0))
        ]
        self._points.flush(grown)
        for key in grown:
            xyz, w, intensity, t = self._voxels(self._points.read(key))
            rec = np.empty(len(xyz), POINT)
            rec["xyz"], rec["w"], rec["i"], rec["t"] = xyz, w, intensity, t
            self._points.replace(key, rec)
            self._merged_size[key] = len(rec)

    def _voxels(self, rec: np.ndarray) -> tuple[np.ndarray, ...]:  # [N] POINT
        voxels = VoxelMeans(self.voxel_m)
        voxels.add(rec["xyz"], rec["i"], rec["t"], rec["w"])
        return voxels.result()  # xyz, weight, intensity, t

    def _rays_by_tile(
        self,
        origins: np.ndarray,
        ends: np.ndarray,  # [R, 3], [R, 3]
    ) -> list[tuple[tuple[int, int], np.ndarray]]:  # by_tile's, of RAY records
        """Each ray once for every tile it crosses (sampled at a quarter of a tile)."""
        length = np.linalg.norm((ends - origins)[:, :2], axis=1).max(initial=0.0)
        steps = int(np.ceil(4 * length / self.tile_m)) + 1
        s = np.linspace(0.0, 1.0, steps)
        samples = origins[None, :, :2] + s[:, None, None] * (ends - origins)[None, :, :2]
        tiles = np.floor(samples / self.tile_m).astype(np.int64)  # [S, R, 2]
        ray = np.broadcast_to(np.arange(len(origins)), tiles.shape[:2])
        pairs = np.unique(np.column_stack([ray.ravel(), tiles.reshape(-1, 2)]), axis=0)
        return by_tile(pairs[:, 1:], RAY, o=origins[pairs[:, 0]], e=ends[pairs[:, 0]])

    def tiles_near(
        self,
        xyz_m: np.ndarray,  # [N, 3] world
        margin_m: float,
    ) -> set[tuple[int, int]]:
        """Every tile that holds a point within margin_m (horizontally) of these points."""
        if len(xyz_m) == 0:
            return set()

        def pack(ij: np.ndarray) -> np.ndarray:  # [N, 2] int64 -> [N] unique int64
            return np.unique((ij[:, 0] << 32) + (ij[:, 1] + (1 << 31)))

        def unpack(packed: np.ndarray) -> np.ndarray:  # [N] -> [N, 2]
            return np.column_stack([packed >> 32, (packed & 0xFFFFFFFF) - (1 << 31)])

        cells = unpack(pack(np.floor(xyz_m[:, :2] / margin_m).astype(np.int64)))  # margin-wide
        lo = np.floor((cells - 1) * margin_m / self.tile_m).astype(np.int64)  # a cell, widened
        hi = np.floor(((cells + 2) * margin_m - 1e-9) / self.tile_m).astype(np.int64)
        corners = [np.column_stack([a[:, 0], b[:, 1]]) for a in (lo, hi) for b in (lo, hi)]
        return set(map(tuple, unpack(pack(np.concatenate(corners))).tolist()))

    def take_tiles(self, keys: list[tuple[int, int]]) -> list[tuple[tuple[int, int], np.ndarray]]:
        """These tiles will get no more points: (tile, its records) of those that hold points,
        for `_merge_records`."""
        self._done.update(keys)
        taken = [(key, self._points.take(key)) for key in keys]
        return [(key, records) for key, records in taken if len(records)]

    def _merge(self, key: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One tile's voxels, without moving things, in the order the submaps first saw them
        (the tile's file holds them submap after submap); thread-safe."""
        return self._merge_records(key, self._points.read(key))

    def _merge_records(
        self, key: tuple[int, int], records: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from products.dynamic import static_mask

        xyz, _, intensity, t = self._voxels(records)
        if self.remove_moving:
            rays = self._rays.read(key)
            ok = static_mask(xyz, rays["o"], rays["e"])
            xyz, intensity, t = xyz[ok], intensity[ok], t[ok]
        return xyz, intensity, t

    def columns(self) -> _Columns:
        return _Columns(self.work_dir / "map")

    def finish(
        self,
        on_progress: Callable[[float], None] | None = None,
        columns: _Columns | None = None,  # the tiles merged so far (`merge_tiles`), if any
    ) -> MapCloud:
        """Merge the tiles not merged yet into the map's columns (in work_dir, memory-mapped:
        keep the folder until the map is written), two tiles at a time."""
        self._points.flush()
        self._rays.flush()
        columns = columns or self.columns()
        tiles = sorted(set(self._points.count) - self._done)
        report = on_progress or (lambda f: None)
        for n, merged in enumerate(in_order(self._merge, tiles)):
            columns.append(*merged)
            report((n + 1) / (len(tiles) + 1))
        late: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
        for key, part in self._late:
            late[key].append(part)
        for key, parts in late.items():  # never expected: see map_from_submaps
            columns.append(*self._merge_records(key, np.concatenate(parts)))
        shutil.rmtree(self._points.folder, ignore_errors=True)
        shutil.rmtree(self._rays.folder, ignore_errors=True)
        report(1.0)
        return columns.close()


@dataclass(frozen=True)
class _Placed:
    points: list[tuple[tuple[int, int], np.ndarray]]  # (tile, its POINT records)
    rays: list[tuple[tuple[int, int], np.ndarray]] | None  # (tile, its RAY records)


def in_order(fn: Callable, items: list, workers: int = 2, ahead: int = 3) -> Iterator:
    """fn(item) for each item, in order, computed by `workers` threads at most `ahead` items
    ahead of the consumer (numpy's sorts, arithmetic and file reads let go of the GIL)."""
    with ThreadPoolExecutor(workers) as pool:
        queue: deque = deque()
        for item in items:
            queue.append(pool.submit(fn, item))
            if len(queue) > ahead:
                yield queue.popleft().result()
        while queue:
            yield queue.popleft().result()


def map_from_submaps(
    folder: Path,
    T_world_anchor: np.ndarray,  # [K, 4, 4]
    config: ProductsConfig,
    work_dir: Path,
    on_progress: Callable[[float], None] | None = None,
) -> MapCloud:
    """The map of the submaps in `folder`, placed at `T_world_anchor`, built in `work_dir` (its
    arrays are memory-mapped from there: keep the folder until the map is written).

    A tile is merged as soon as the last submap that can reach it is placed, while the next
    ones are placed: which submaps reach a tile is known beforehand from their coarse clouds
    (every point lies within a coarse voxel of one of them; LATE_MARGIN_M is that distance,
    with room). With the removal of moving things, whose rays cross tiles beyond the points,
    every tile is merged at the end. Progress: the share of submaps placed."""
    from slam.submaps import submap_files

    files = submap_files(folder)
    if len(files) != len(T_world_anchor):
        raise ValueError(f"{folder}: {len(files)} submaps for {len(T_world_anchor)} anchors")
    return map_from_files(files, T_world_anchor, config, work_dir, on_progress)


def map_from_files(
    files: list[Path],  # submap files, of one scan or of several (a site)
    T_world_anchor: np.ndarray,  # [K, 4, 4] each one's anchor
    config: ProductsConfig,
    work_dir: Path,
    on_progress: Callable[[float], None] | None = None,
) -> MapCloud:
    """map_from_submaps' map of these submap files (in this order) at these anchors."""
    from slam.submaps import load_member, load_submap

    report = on_progress or (lambda f: None)
    builder = MapBuilder(config.map_voxel_m, work_dir, config.remove_moving)
    ready: dict[int, list[tuple[int, int]]] = defaultdict(list)  # submap -> tiles it completes
    if not config.remove_moving:
        last: dict[tuple[int, int], int] = {}
        for k, path in enumerate(files):
            coarse = transform(T_world_anchor[k], load_member(path, "coarse_m").astype(np.float64))
            last.update(dict.fromkeys(builder.tiles_near(coarse, LATE_MARGIN_M), k))
        for key, k in last.items():
            ready[k].append(key)
    columns = builder.columns()
    with ThreadPoolExecutor(2) as pool:  # numpy, numba and file reads let go of the GIL
        placing: deque = deque()
        merging: deque = deque()

        def place(k: int) -> _Placed:
            return builder.place(load_submap(files[k], mmap=True), T_world_anchor[k])

        for k in range(min(3, len(files))):
            placing.append(pool.submit(place, k))
        for k in range(len(files)):
            placed = placing.popleft().result()
            if k + 3 < len(files):
                placing.append(pool.submit(place, k + 3))
            builder.keep(placed)
            if ready[k]:
                for key, records in builder.take_tiles(sorted(ready[k])):
                    merging.append(pool.submit(builder._merge_records, key, records))
            while merging and (merging[0].done() or len(merging) > 4):
                columns.append(*merging.popleft().result())
            report(0.95 * (k + 1) / len(files))
        while merging:
            columns.append(*merging.popleft().result())
    return builder.finish(lambda f: report(0.95 + 0.05 * f), columns)
