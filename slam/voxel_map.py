"""The local map: hashed voxels of points, bounded around the sensor, with plane fits on demand.

This is the map both odometries use (lidar-only here, LiDAR-inertial later): points live in voxels
of `voxel_size_m`, each holding at most `max_points_per_voxel` points at least
`min_point_spacing_m` apart. A query point gets its k nearest map points from the 27 voxels
around it and a plane fitted to them, which gives the point-to-plane residual n.p + d.

The voxels are found through a hash table of packed voxel coordinates (voxel_hash.py); the
insertion, search and plane fits are numba, so that no per-point Python runs; eviction rebuilds
the table from the surviving voxels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np

from slam.voxel_hash import _EMPTY, _find, _pack, _rebuild_table, _table_put, _unpack

# the 27 voxel offsets, nearest first
_NEIGHBORS = np.array(
    sorted(
        ((x, y, z) for x in (-1, 0, 1) for y in (-1, 0, 1) for z in (-1, 0, 1)),
        key=lambda o: abs(o[0]) + abs(o[1]) + abs(o[2]),
    ),
    dtype=np.int64,
)


@dataclass(frozen=True, slots=True)
class PlaneMatches:
    """Planes fitted to the map near each query point; residual_i = normal_i . p_i + offset_i."""

    normal: np.ndarray  # [N, 3] unit normals, world frame
    offset: np.ndarray  # [N] metres
    valid: np.ndarray  # [N] bool: enough close neighbours, and they lie on a plane


@nb.njit(cache=True)
def _insert(
    points,
    inv_voxel,
    min_spacing2,
    table_keys,
    table_slots,
    slot_keys,
    slot_points,
    slot_count,
    n_slots,
):
    """Insert points [N, 3] -> (slot count, index where it stopped: N, or earlier when full)."""
    max_pts = slot_points.shape[1]
    for i in range(points.shape[0]):
        ix = int(np.floor(points[i, 0] * inv_voxel))
        iy = int(np.floor(points[i, 1] * inv_voxel))
        iz = int(np.floor(points[i, 2] * inv_voxel))
        key = _pack(ix, iy, iz)
        s = _find(table_keys, table_slots, key)
        if s < 0:
            if n_slots == slot_keys.shape[0]:
                return n_slots, i
            s = n_slots
            n_slots += 1
            slot_keys[s] = key
            slot_count[s] = 0
            _table_put(table_keys, table_slots, key, s)
        c = slot_count[s]
        if c >= max_pts:
            continue
        close = False
        for j in range(c):
            dx = slot_points[s, j, 0] - points[i, 0]
            dy = slot_points[s, j, 1] - points[i, 1]
            dz = slot_points[s, j, 2] - points[i, 2]
            if dx * dx + dy * dy + dz * dz < min_spacing2:
                close = True
                break
        if not close:
            slot_points[s, c, 0] = points[i, 0]
            slot_points[s, c, 1] = points[i, 1]
            slot_points[s, c, 2] = points[i, 2]
            slot_count[s] = c + 1
    return n_slots, points.shape[0]


@nb.njit(cache=True, inline="always")
def _smallest_eigvec(cxx, cxy, cxz, cyy, cyz, czz):
    """Smallest eigenvalue and its unit eigenvector of a symmetric 3x3 (closed form)."""
    p1 = cxy * cxy + cxz * cxz + cyz * cyz
    q = (cxx + cyy + czz) / 3.0
    p2 = (cxx - q) ** 2 + (cyy - q) ** 2 + (czz - q) ** 2 + 2.0 * p1
    p = np.sqrt(p2 / 6.0)
    if p < 1e-12:
        return 0.0, 0.0, 0.0, 0.0
    bxx, byy, bzz = (cxx - q) / p, (cyy - q) / p, (czz - q) / p
    bxy, bxz, byz = cxy / p, cxz / p, cyz / p
    detb = (
        bxx * (byy * bzz - byz * byz)
        - bxy * (bxy * bzz - byz * bxz)
        + bxz * (bxy * byz - byy * bxz)
    )
    r = min(max(detb / 2.0, -1.0), 1.0)
    phi = np.arccos(r) / 3.0
    lam = q + 2.0 * p * np.cos(phi + 2.0 * np.pi / 3.0)
    # the eigenvector is orthogonal to the rows of (C - lam I): take the best-conditioned cross
    r0x, r0y, r0z = cxx - lam, cxy, cxz
    r1x, r1y, r1z = cxy, cyy - lam, cyz
    r2x, r2y, r2z = cxz, cyz, czz - lam
    ax, ay, az = r0y * r1z - r0z * r1y, r0z * r1x - r0x * r1z, r0x * r1y - r0y * r1x
    bx, by, bz = r0y * r2z - r0z * r2y, r0z * r2x - r0x * r2z, r0x * r2y - r0y * r2x
    cx, cy, cz = r1y * r2z - r1z * r2y, r1z * r2x - r1x * r2z, r1x * r2y - r1y * r2x
    na, nb_, nc = (
        ax * ax + ay * ay + az * az,
        bx * bx + by * by + bz * bz,
        cx * cx + cy * cy + cz * cz,
    )
    if na >= nb_ and na >= nc:
        vx, vy, vz, n2 = ax, ay, az, na
    elif nb_ >= nc:
        vx, vy, vz, n2 = bx, by, bz, nb_
    else:
        vx, vy, vz, n2 = cx, cy, cz, nc
    if n2 < 1e-30:
        return 0.0, 0.0, 0.0, 0.0
    inv = 1.0 / np.sqrt(n2)
    return lam, vx * inv, vy * inv, vz * inv


@nb.njit(cache=True, parallel=True)
def _fit_planes(
    queries,
    inv_voxel,
    voxel,
    k,
    max_dist2,
    plane_tol,
    table_keys,
    table_slots,
    slot_points,
    slot_count,
    normal,
    offset,
    valid,
) -> None:
    n = queries.shape[0]
    best_d_all = np.empty((n, k))  # scratch, one row per query: no allocation in the loop
    best_p_all = np.empty((n, k, 3))
    for i in nb.prange(n):
        qx, qy, qz = queries[i, 0], queries[i, 1], queries[i, 2]
        ix = int(np.floor(qx * inv_voxel))
        iy = int(np.floor(qy * inv_voxel))
        iz = int(np.floor(qz * inv_voxel))
        # squared distances from q to the low and high faces of its voxel, to skip neighbours
        # that cannot hold a point closer than the k-th best so far (the centre comes first)
        lx, ly, lz = qx - ix * voxel, qy - iy * voxel, qz - iz * voxel
        lx2, ly2, lz2 = lx * lx, ly * ly, lz * lz
        hx2, hy2, hz2 = (voxel - lx) ** 2, (voxel - ly) ** 2, (voxel - lz) ** 2
        best_d = best_d_all[i]
        best_p = best_p_all[i]
        best_d[:] = np.inf
        found = 0
        for o in range(27):
            dx, dy, dz = _NEIGHBORS[o, 0], _NEIGHBORS[o, 1], _NEIGHBORS[o, 2]
            box_d2 = 0.0
            if dx < 0:
                box_d2 += lx2
            elif dx > 0:
                box_d2 += hx2
            if dy < 0:
                box_d2 += ly2
            elif dy > 0:
                box_d2 += hy2
            if dz < 0:
                box_d2 += lz2
            elif dz > 0:
                box_d2 += hz2
            if box_d2 >= best_d[k - 1] or box_d2 > max_dist2:
                continue
            s = _find(table_keys, table_slots, _pack(ix + dx, iy + dy, iz + dz))
            if s < 0:
                continue
            for j in range(slot_count[s]):
                px, py, pz = slot_points[s, j, 0], slot_points[s, j, 1], slot_points[s, j, 2]
                d2 = (px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2
                if d2 >= best_d[k - 1] or d2 > max_dist2:
                    continue
                m = k - 1  # insertion sort into the k best
                while m > 0 and best_d[m - 1] > d2:
                    best_d[m] = best_d[m - 1]
                    best_p[m, 0], best_p[m, 1], best_p[m, 2] = (
                        best_p[m - 1, 0],
                        best_p[m - 1, 1],
                        best_p[m - 1, 2],
                    )
                    m -= 1
                best_d[m] = d2
                best_p[m, 0], best_p[m, 1], best_p[m, 2] = px, py, pz
                found += 1
        valid[i] = False
        if found < k:
            continue
        mx = (best_p[:, 0].sum()) / k
        my = (best_p[:, 1].sum()) / k
        mz = (best_p[:, 2].sum()) / k
        cxx = cxy = cxz = cyy = cyz = czz = 0.0
        for m in range(k):
            ex, ey, ez = best_p[m, 0] - mx, best_p[m, 1] - my, best_p[m, 2] - mz
            cxx += ex * ex
            cxy += ex * ey
            cxz += ex * ez
            cyy += ey * ey
            cyz += ey * ez
            czz += ez * ez
        lam, nx, ny, nz = _smallest_eigvec(cxx / k, cxy / k, cxz / k, cyy / k, cyz / k, czz / k)
        if nx == 0.0 and ny == 0.0 and nz == 0.0:
            continue
        d = -(nx * mx + ny * my + nz * mz)
        ok = True
        for m in range(k):
            if abs(nx * best_p[m, 0] + ny * best_p[m, 1] + nz * best_p[m, 2] + d) > plane_tol[i]:
                ok = False
                break
        if ok:
            normal[i, 0], normal[i, 1], normal[i, 2] = nx, ny, nz
            offset[i] = d
            valid[i] = True


@nb.njit(cache=True)
def _count_occupied(points, inv_voxel, table_keys, table_slots) -> int:
    hits = 0
    for i in range(points.shape[0]):
        key = _pack(
            int(np.floor(points[i, 0] * inv_voxel)),
            int(np.floor(points[i, 1] * inv_voxel)),
            int(np.floor(points[i, 2] * inv_voxel)),
        )
        if _find(table_keys, table_slots, key) >= 0:
            hits += 1
    return hits


class VoxelMap:
    """Hashed voxel map of world points, bounded by distance from the sensor."""

    def __init__(
        self,
        voxel_size_m: float = 0.5,
        max_points_per_voxel: int = 20,
        min_point_spacing_m: float = 0.05,
        initial_voxels: int = 1 << 15,
    ) -> None:
        self.voxel_size_m = float(voxel_size_m)
        self._inv_voxel = 1.0 / self.voxel_size_m
        self._min_spacing2 = float(min_point_spacing_m) ** 2
        self._n_slots = 0
        self._evicted_at: np.ndarray | None = None
        self._alloc(initial_voxels, max_points_per_voxel)

    def _alloc(self, n_voxels: int, max_pts: int) -> None:
        old = self._n_slots
        slot_keys = np.full(n_voxels, _EMPTY, dtype=np.int64)
        slot_points = np.zeros((n_voxels, max_pts, 3))
        slot_count = np.zeros(n_voxels, dtype=np.int32)
        if old:
            slot_keys[:old] = self._slot_keys[:old]
            slot_points[:old] = self._slot_points[:old]
            slot_count[:old] = self._slot_count[:old]
        self._slot_keys, self._slot_points, self._slot_count = slot_keys, slot_points, slot_count
        self._table_keys = np.full(4 * n_voxels, _EMPTY, dtype=np.int64)  # load factor <= 1/4
        self._table_slots = np.zeros(4 * n_voxels, dtype=np.int64)
        _rebuild_table(self._table_keys, self._table_slots, self._slot_keys, old)

    def __len__(self) -> int:
        """Number of occupied voxels."""
        return self._n_slots

    @property
    def num_points(self) -> int:
        return int(self._slot_count[: self._n_slots].sum())

    def points(self) -> np.ndarray:
        """All map points [M, 3] (world frame)."""
        n = self._n_slots
        mask = np.arange(self._slot_points.shape[1]) < self._slot_count[:n, None]
        return self._slot_points[:n][mask]

    def add(self, points_world: np.ndarray) -> None:  # [N, 3]
        pts = np.ascontiguousarray(points_world, dtype=np.float64)
        while True:
            self._n_slots, done = _insert(
                pts,
                self._inv_voxel,
                self._min_spacing2,
                self._table_keys,
                self._table_slots,
                self._slot_keys,
                self._slot_points,
                self._slot_count,
                self._n_slots,
            )
            if done == len(pts):
                return
            # storage full at point `done`: grow and carry on from there
            self._alloc(2 * len(self._slot_keys), self._slot_points.shape[1])
            pts = pts[done:]

    def remove_far(self, center_world: np.ndarray, max_distance_m: float) -> int:
        """Drop voxels whose centre is farther than max_distance_m from center_world [3].

        Runs again only once the centre has moved 5 % of the distance: eviction walks every
        voxel, and nothing new can be far before the sensor has moved."""
        if (
            self._evicted_at is not None
            and np.linalg.norm(center_world - self._evicted_at) < 0.05 * max_distance_m
        ):
            return 0
        self._evicted_at = np.array(center_world, dtype=float)
        n = self._n_slots
        keys = self._slot_keys[:n]
        centers = (_unpack(keys) + 0.5) * self.voxel_size_m
        keep = (
            np.einsum("ij,ij->i", centers - center_world, centers - center_world)
            <= max_distance_m**2
        )
        n_drop = int(n - keep.sum())
        if n_drop:
            idx = np.flatnonzero(keep)
            m = len(idx)
            self._slot_keys[:m] = keys[idx]
            self._slot_points[:m] = self._slot_points[idx]
            self._slot_count[:m] = self._slot_count[idx]
            self._slot_keys[m:n] = _EMPTY
            self._slot_count[m:n] = 0
            self._n_slots = m
            _rebuild_table(self._table_keys, self._table_slots, self._slot_keys, m)
        return n_drop

    def fit_planes(
        self,
        points_world: np.ndarray,  # [N, 3]
        k: int = 5,
        max_neighbor_distance_m: float = 1.0,
        plane_tolerance_m: float | np.ndarray = 0.1,  # or [N], one per query
    ) -> PlaneMatches:
        """Fit a plane to the k nearest map points around each query point; a plane is taken
        when all k lie within plane_tolerance_m of it."""
        q = np.ascontiguousarray(points_world, dtype=np.float64)
        n = len(q)
        tol = np.broadcast_to(np.asarray(plane_tolerance_m, dtype=np.float64), (n,))
        normal = np.zeros((n, 3))
        offset = np.zeros(n)
        valid = np.zeros(n, dtype=np.bool_)
        if n and self._n_slots:
            _fit_planes(
                q,
                self._inv_voxel,
                self.voxel_size_m,
                k,
                max_neighbor_distance_m**2,
                np.ascontiguousarray(tol),
                self._table_keys,
                self._table_slots,
                self._slot_points,
                self._slot_count,
                normal,
                offset,
                valid,
            )
        return PlaneMatches(normal=normal, offset=offset, valid=valid)

    def occupied_fraction(self, points_world: np.ndarray) -> float:  # [N, 3]
        """Fraction of the points that fall in an occupied voxel: a cheap overlap score."""
        if len(points_world) == 0:
            return 0.0
        q = np.ascontiguousarray(points_world, dtype=np.float64)
        return _count_occupied(q, self._inv_voxel, self._table_keys, self._table_slots) / len(q)
