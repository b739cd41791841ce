"""COPC: the map as one LAZ whose points are sorted into an octree of chunks, each a sample of
its cube, so that a viewer fetches what it shows (copc.io). Written with copclib (laspy reads
COPC but cannot write it); every chunk's LAS records are packed by laspy from numpy columns.

The octree: a cube around the map; at depth d it has 2^d nodes a side, each a grid of GRID^3
cells. The points, in the order of a Morton curve, fill the cells depth by depth: a point stays
at the shallowest depth whose cell it is the first to claim, the others go deeper, down to the depth
whose cells are no larger than the map's own voxel, which takes all that remain. So depth 0 is
an even overview of the whole map (about GRID^2 points on its surfaces) and each depth adds
detail where there is any.

Streamed: a cell at any depth lies inside one node of depth <= log2(GRID), so the cube is cut
into subtrees (nodes of such a depth, split until each holds at most `subtree_points`) whose
points are filed by index on disk and then placed one subtree at a time, with the same result as
all at once. A subtree's own nodes are written as soon as it is placed; the nodes above it,
shared by several subtrees, are kept (an index and a key a point: the few points of the shallow
depths) and written last. Memory: about one subtree, whatever the map's size.
"""

from __future__ import annotations

import logging
import math
import tempfile
from collections import defaultdict
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np

from products.export import las_header, utc_to_adjusted_gps
from products.map import MapCloud

log = logging.getLogger(__name__)

GRID = 128  # cells a side in each node: COPC's usual spacing
SCALE_M = 0.001
SUBTREE_POINTS = 4_000_000  # points placed at once (~100 B each)
FIRST_SPLIT_DEPTH = 2  # the subtrees' depth to begin with
MAX_SPLIT_DEPTH = 5  # never split deeper: the shallower nodes' points wait on disk until the end
CHUNK = 2_000_000  # points read from the map at once


def _spread3(v: np.ndarray) -> np.ndarray:  # [N] int64 < 2^21 -> its bits 3 apart (Morton)
    v = v & 0x1FFFFF
    v = (v | v << 32) & 0x1F00000000FFFF
    v = (v | v << 16) & 0x1F0000FF0000FF
    v = (v | v << 8) & 0x100F00F00F00F00F
    v = (v | v << 4) & 0x10C30C30C30C30C3
    return (v | v << 2) & 0x1249249249249249


def octree_depths(
    xyz_m: np.ndarray,  # [N, 3]
    lo_m: np.ndarray,  # [3] the cube's corner
    size_m: float,  # the cube's side
    max_depth: int,
) -> np.ndarray:  # -> [N] int8 each point's depth
    """Each point's depth in the octree (see the module's text). The points sorted once along
    a Morton curve of the finest cells, so that every cell at every depth is one run of them:
    a depth's claims are then the first remaining point of each run (no sort per depth). Ties
    go to the earlier point, so any subtree's points, in map order, get the depths they get in
    the whole map."""
    n = len(xyz_m)
    depth = np.full(n, max_depth, np.int8)
    if max_depth == 0 or n == 0:
        return depth
    bits = max_depth - 1 + int(math.log2(GRID))  # the finest claimed cells, per axis
    ijk = np.floor((xyz_m - lo_m) / size_m * (1 << bits)).astype(np.int64)
    np.clip(ijk, 0, (1 << bits) - 1, out=ijk)
    code = _spread3(ijk[:, 0]) << 2 | _spread3(ijk[:, 1]) << 1 | _spread3(ijk[:, 2])
    order = np.argsort(code, kind="stable")
    code = code[order]
    remaining = np.arange(n)  # positions in `order`, still without a depth
    for d in range(max_depth):
        cell = code[remaining] >> (3 * (bits - d - int(math.log2(GRID))))
        first = np.r_[True, cell[1:] != cell[:-1]]  # the first of each cell's run claims it
        depth[order[remaining[first]]] = d
        remaining = remaining[~first]
        if len(remaining) == 0:
            break
    return depth


def _nodes_of(
    xyz_m: np.ndarray,  # [N, 3]
    depth: np.ndarray,  # [N] int
    corner_m: np.ndarray,  # [3]
    size_m: float,
) -> np.ndarray:  # -> [N, 4] int32: d, x, y, z, each point's node (a COPC VoxelKey)
    cells = (1 << depth.astype(np.int64))[:, None]  # [N, 1] nodes a side at each one's depth
    node = np.clip(np.floor((xyz_m - corner_m) / size_m * cells).astype(np.int64), 0, cells - 1)
    return np.column_stack([depth, node]).astype(np.int32)


def _groups(key: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:  # [N, 4]
    """The rows grouped by key: (the key [4], its rows in their order), by depth, x, y, z."""
    if len(key) == 0:
        return
    order = np.lexsort(key.T[::-1])  # stable
    k = key[order]
    starts = np.flatnonzero(np.r_[True, (k[1:] != k[:-1]).any(axis=1)])
    for a, b in zip(starts, np.r_[starts[1:], len(k)], strict=True):
        yield k[a], order[a:b]


class _Files:
    """Rows appended to files named by a key, in `folder`."""

    def __init__(self, folder: Path, dtype: np.dtype) -> None:
        self.folder, self.dtype = folder, np.dtype(dtype)
        self.count: dict[tuple[int, ...], int] = defaultdict(int)

    def add(self, key: tuple[int, ...], rows: np.ndarray) -> None:
        with open(self._path(key), "ab") as f:
            f.write(memoryview(np.ascontiguousarray(rows, self.dtype)).cast("B"))
        self.count[key] += len(rows)

    def take(self, key: tuple[int, ...]) -> np.ndarray:
        rows = np.fromfile(self._path(key), self.dtype)
        self._path(key).unlink()
        del self.count[key]
        return rows

    def _path(self, key: tuple[int, ...]) -> Path:
        return self.folder / ("_".join(str(v) for v in key) + ".bin")


def _file_by_node(
    files: _Files,
    xyz_m: np.ndarray,  # [N, 3]
    idx: np.ndarray,  # [N] the points' places in the map
    depth: int,
    corner_m: np.ndarray,
    size_m: float,
) -> None:
    """The points' indices filed under their node at `depth`, in their order."""
    key = _nodes_of(xyz_m, np.full(len(xyz_m), depth), corner_m, size_m)
    for k, rows in _groups(key):
        files.add(tuple(int(v) for v in k), idx[rows])


def subtrees(
    xyz_m: np.ndarray,  # [N, 3], a memory map is read in chunks
    corner_m: np.ndarray,  # [3]
    size_m: float,
    max_depth: int,
    folder: Path,
    subtree_points: int = SUBTREE_POINTS,
) -> Iterator[tuple[tuple[int, int, int, int], np.ndarray]]:
    """The map cut into subtrees of at most `subtree_points` (unless at MAX_SPLIT_DEPTH):
    (its node, its points' indices in map order), one at a time, filed in `folder`."""
    n = len(xyz_m)
    index = np.uint32 if n < 1 << 32 else np.int64
    files = _Files(folder, index)
    first = min(FIRST_SPLIT_DEPTH, max_depth)
    for a in range(0, n, CHUNK):
        b = min(a + CHUNK, n)
        xyz = np.asarray(xyz_m[a:b], np.float64)
        _file_by_node(files, xyz, np.arange(a, b, dtype=index), first, corner_m, size_m)
    while files.count:
        key = min(files.count)  # shallowest first: its children come after it
        idx = files.take(key)
        d = key[0]
        if len(idx) > subtree_points and d < min(MAX_SPLIT_DEPTH, max_depth):
            for a in range(0, len(idx), CHUNK):
                part = idx[a : a + CHUNK]
                xyz = np.asarray(xyz_m[part], np.float64)
                _file_by_node(files, xyz, part, d + 1, corner_m, size_m)
            continue
        yield key, idx


def write_copc(
    path: Path,
    cloud: MapCloud,
    voxel_m: float,  # the map's own spacing: the deepest cells are no finer
    gps_offset_s: float = 0.0,
    epsg: int | None = None,
    subtree_points: int = SUBTREE_POINTS,
) -> dict:
    """The map as a COPC file (LAS 1.4, point format 7, 1 mm), streamed (see the module's
    text; temporary files beside `path`) -> {depths, nodes, points, subtrees}."""
    import copclib
    import laspy

    n = len(cloud)
    if n == 0:
        raise ValueError("an empty map has no COPC")
    lo, hi = np.full(3, np.inf), np.full(3, -np.inf)
    for a in range(0, n, CHUNK):
        xyz = np.asarray(cloud.xyz_m[a : a + CHUNK], np.float64)
        lo, hi = np.minimum(lo, xyz.min(axis=0)), np.maximum(hi, xyz.max(axis=0))
    size = float(max((hi - lo).max(), 1e-3)) * (1.0 + 1e-6)
    corner = (lo + hi) / 2.0 - size / 2.0
    max_depth = max(0, math.ceil(math.log2(size / (GRID * voxel_m))))

    header = las_header(7, lo, epsg, "scanner copc")
    wkt = ""
    if epsg is not None:
        from pyproj import CRS

        wkt = CRS.from_epsg(epsg).to_wkt()
    config = copclib.CopcConfigWriter(
        7,
        copclib.Vector3(SCALE_M, SCALE_M, SCALE_M),
        copclib.Vector3(*(float(v) for v in header.offsets)),
        wkt,
    )

    def add_node(key: np.ndarray, xyz: np.ndarray, idx: np.ndarray) -> None:  # [4], [M, 3], [M]
        rec = laspy.ScaleAwarePointRecord.zeros(len(idx), header=header)
        rec.x, rec.y, rec.z = xyz[:, 0], xyz[:, 1], xyz[:, 2]
        rec.intensity = (np.clip(cloud.intensity[idx], 0, 255) * 257).astype(np.uint16)
        rec.gps_time = utc_to_adjusted_gps(np.asarray(cloud.t_s[idx]) + gps_offset_s)
        if cloud.rgb is not None:
            rgb = np.asarray(cloud.rgb[idx]).astype(np.uint16) * 257
            rec.red, rec.green, rec.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
        data = copclib.VectorChar(np.frombuffer(rec.array.tobytes(), np.int8))
        writer.AddNode(copclib.VoxelKey(*(int(v) for v in key)), data)

    nodes = parts = 0
    writer = copclib.FileWriter(str(path), config)
    try:
        info = writer.copc_config.copc_info
        info.center_x, info.center_y, info.center_z = (float(v) for v in corner + size / 2.0)
        info.halfsize = size / 2.0
        info.spacing = size / GRID
        las = writer.copc_config.las_header
        las.min, las.max = copclib.Vector3(*lo.tolist()), copclib.Vector3(*hi.tolist())
        with tempfile.TemporaryDirectory(prefix=".copc-", dir=path.parent) as tmp:
            shallow_idx, shallow_key = [], []  # the nodes above the subtrees: written last
            for (d0, *_), idx in subtrees(
                cloud.xyz_m, corner, size, max_depth, Path(tmp), subtree_points
            ):
                parts += 1
                xyz = np.asarray(cloud.xyz_m[idx], np.float64)
                key = _nodes_of(xyz, octree_depths(xyz, corner, size, max_depth), corner, size)
                above = key[:, 0] < d0
                shallow_idx.append(idx[above])
                shallow_key.append(key[above])
                own = np.flatnonzero(~above)  # in map order, as the nodes keep it
                for k, rows in _groups(key[own]):
                    add_node(k, xyz[own[rows]], idx[own[rows]])
                    nodes += 1
            idx = np.concatenate(shallow_idx)
            for k, rows in _groups(np.concatenate(shallow_key)):
                rows = np.sort(idx[rows])  # file order within a node: the map's
                add_node(k, np.asarray(cloud.xyz_m[rows], np.float64), rows)
                nodes += 1
    finally:
        writer.Close()
    log.info("%s: %d points, %d nodes, depths 0-%d, %d subtrees", path, n, nodes, max_depth, parts)
    return {"points": n, "nodes": nodes, "depths": max_depth + 1, "subtrees": parts}


class CopcError(ValueError):
    """A COPC file that cannot be read (cut short, or not COPC)."""


PAGED_POINT_BYTES = 16  # a paged point: float32 x, y, z from the cube's centre; uint8 r, g, b, i


class CopcPages:
    """A COPC map served a node at a time (the browser's paged view): the octree's nodes and,
    for each, its points decompressed into PAGED_POINT_BYTES each. A node's bytes are the
    float32 positions [N, 3] (metres from the cube's centre, so float32 keeps 0.1 mm on a
    campus), then the colours and intensities [N, 4] uint8."""

    def __init__(self, path: Path) -> None:
        import laspy
        from laspy.copc import CopcReader

        self.path = Path(path)
        try:
            with CopcReader.open(str(self.path)) as r:
                self._format = r.header.point_format
                self._scales, self._offsets = r.header.scales, r.header.offsets
                self._laszip = r.laszip_vlr.record_data
                self.center_m = np.asarray(r.copc_info.center, np.float64)  # [3]
                self.halfsize_m = float(r.copc_info.halfsize)
                self.spacing_m = float(r.copc_info.spacing)
                self.points = int(r.header.point_count)
                root = (r.copc_info.hierarchy_root_offset, r.copc_info.hierarchy_root_size)
            entries = self._hierarchy(*root)
        except (OSError, ValueError, IndexError, AttributeError, laspy.LaspyException) as exc:
            raise CopcError(f"{self.path.name} cannot be read: {exc}") from None
        self._nodes = {
            (int(e["d"]), int(e["x"]), int(e["y"]), int(e["z"])): (
                int(e["offset"]),
                int(e["size"]),
                int(e["count"]),
            )
            for e in entries[entries["count"] > 0]
        }
        root = self._records((0, 0, 0, 0)) if (0, 0, 0, 0) in self._nodes else None
        self.rgb = root is not None and bool(
            (root["red"] | root["green"] | root["blue"]).any()  # point format 7 always has them
        )

    ENTRY = np.dtype(  # COPC's hierarchy entry: a VoxelKey, where its chunk is, its points
        [("d", "<i4"), ("x", "<i4"), ("y", "<i4"), ("z", "<i4"), ("offset", "<u8")]
        + [("size", "<i4"), ("count", "<i4")]
    )

    def _hierarchy(self, offset: int, size: int) -> np.ndarray:  # -> [N] ENTRY, every page's
        pages, entries = [(offset, size)], []
        with open(self.path, "rb") as f:
            while pages:
                offset, size = pages.pop()
                f.seek(offset)
                data = f.read(size)
                if size <= 0 or len(data) != size or size % self.ENTRY.itemsize:
                    raise CopcError(f"{self.path.name}: a hierarchy page is cut short")
                page = np.frombuffer(data, self.ENTRY)
                entries.append(page)
                pages += [(int(e["offset"]), int(e["size"])) for e in page[page["count"] == -1]]
        return np.concatenate(entries)

    def hierarchy(self) -> dict:
        """What a viewer needs before its first page: the cube, the spacing of depth 0's cells,
        whether the points have colour, and every node as [depth, x, y, z, points]."""
        return {
            "center_m": self.center_m.tolist(),
            "halfsize_m": self.halfsize_m,
            "spacing_m": self.spacing_m,
            "points": self.points,
            "rgb": self.rgb,
            "nodes": [[*key, v[2]] for key, v in sorted(self._nodes.items())],
        }

    def node(self, key: tuple[int, int, int, int]) -> bytes:
        """A node's points as the class's text says; KeyError for a node the map lacks,
        CopcError for one that cannot be read."""
        rec = self._records(key)
        n = len(rec)
        out = np.empty(n * PAGED_POINT_BYTES, np.uint8)
        xyz = out[: n * 12].view(np.float32).reshape(n, 3)
        for axis, name in enumerate("XYZ"):
            metres = rec[name] * self._scales[axis] + (self._offsets[axis] - self.center_m[axis])
            xyz[:, axis] = metres
        rgbi = out[n * 12 :].reshape(n, 4)
        for c, name in enumerate(("red", "green", "blue", "intensity")):
            rgbi[:, c] = rec[name] >> 8  # LAS keeps 16 bits; ours are 8 bits times 257
        return out.tobytes()

    def _records(self, key: tuple[int, int, int, int]) -> np.ndarray:  # [N] LAS records
        import lazrs
        from laspy import DecompressionSelection

        offset, size, count = self._nodes[key]
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read(size)
        out = np.zeros(count * self._format.size, np.uint8)
        try:
            lazrs.decompress_points_with_chunk_table(
                data, self._laszip, out, [(count, size)], DecompressionSelection.all().to_lazrs()
            )
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as exc:  # lazrs panics on a corrupt chunk: not an Exception
            raise CopcError(f"{self.path.name}: node {key} cannot be read ({exc})") from None
        return np.frombuffer(out, self._format.dtype())


@lru_cache(maxsize=4)
def open_pages(path: str, mtime_ns: int) -> CopcPages:  # mtime_ns: a rewritten file reopens
    """A COPC map's pages, kept open for the next request."""
    return CopcPages(Path(path))
