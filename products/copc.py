"""COPC: the map as one LAZ whose points are sorted into an octree of chunks, each a sample of
its cube, so that a viewer fetches what it shows (copc.io). Written with copclib (laspy reads
COPC but cannot write it); every chunk's LAS records are packed by laspy from numpy columns.

The octree: a cube around the map; at depth d it has 2^d nodes a side, each a grid of GRID^3
cells. The points, in the order of a Morton curve, fill the cells depth by depth: a point stays
at the shallowest depth whose cell it is the first to claim, the others go deeper, down to the depth
whose cells are no larger than the map's own voxel, which takes all that remain. So depth 0 is
an even overview of the whole map (about GRID^2 points on its surfaces) and each depth adds
detail where there is any.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from products.export import las_header, utc_to_adjusted_gps
from products.map import MapCloud

log = logging.getLogger(__name__)

GRID = 128  # cells a side in each node: COPC's usual spacing
SCALE_M = 0.001


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
    a depth's claims are then the first remaining point of each run (no sort per depth)."""
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


def write_copc(
    path: Path,
    cloud: MapCloud,
    voxel_m: float,  # the map's own spacing: the deepest cells are no finer
    gps_offset_s: float = 0.0,
    epsg: int | None = None,
) -> dict:
    """The map as a COPC file (LAS 1.4, point format 7, 1 mm) -> {depths, nodes, points}."""
    import copclib
    import laspy

    n = len(cloud)
    xyz = np.asarray(cloud.xyz_m, dtype=np.float64)  # [N, 3]
    if n == 0:
        raise ValueError("an empty map has no COPC")
    lo, hi = xyz.min(axis=0), xyz.max(axis=0)
    size = float(max((hi - lo).max(), 1e-3)) * (1.0 + 1e-6)
    corner = (lo + hi) / 2.0 - size / 2.0
    max_depth = max(0, math.ceil(math.log2(size / (GRID * voxel_m))))
    depth = octree_depths(xyz, corner, size, max_depth)
    cells = (1 << depth.astype(np.int64))[:, None]  # [N, 1] nodes a side at each one's depth
    node = np.clip(np.floor((xyz - corner) / size * cells).astype(np.int64), 0, cells - 1)
    key = np.column_stack([depth, node]).astype(np.int32)  # [N, 4] d, x, y, z: a VoxelKey
    order = np.lexsort(key.T[::-1])  # by depth, then x, y, z
    key = key[order]
    starts = np.flatnonzero(np.r_[True, (key[1:] != key[:-1]).any(axis=1)])
    ends = np.r_[starts[1:], n]

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
    writer = copclib.FileWriter(str(path), config)
    try:
        info = writer.copc_config.copc_info
        info.center_x, info.center_y, info.center_z = (float(v) for v in corner + size / 2.0)
        info.halfsize = size / 2.0
        info.spacing = size / GRID
        las = writer.copc_config.las_header
        las.min, las.max = copclib.Vector3(*lo.tolist()), copclib.Vector3(*hi.tolist())
        for a, b in zip(starts, ends, strict=True):
            idx = np.sort(order[a:b])  # file order within a node: the map's
            rec = laspy.ScaleAwarePointRecord.zeros(len(idx), header=header)
            rec.x, rec.y, rec.z = xyz[idx, 0], xyz[idx, 1], xyz[idx, 2]
            rec.intensity = (np.clip(cloud.intensity[idx], 0, 255) * 257).astype(np.uint16)
            rec.gps_time = utc_to_adjusted_gps(np.asarray(cloud.t_s[idx]) + gps_offset_s)
            if cloud.rgb is not None:
                rgb = np.asarray(cloud.rgb[idx]).astype(np.uint16) * 257
                rec.red, rec.green, rec.blue = rgb[:, 0], rgb[:, 1], rgb[:, 2]
            data = copclib.VectorChar(np.frombuffer(rec.array.tobytes(), np.int8))
            writer.AddNode(copclib.VoxelKey(*(int(v) for v in key[a])), data)
    finally:
        writer.Close()
    log.info("%s: %d points in %d nodes, depths 0-%d", path, n, len(starts), max_depth)
    return {"points": n, "nodes": len(starts), "depths": max_depth + 1}
