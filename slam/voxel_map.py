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
    table,
    slot_keys,
    slot_points,
    slot_count,
    n_slots,
):
    """Insert points [N, 3] -> (slot count, index where it stopped: N, or earlier when the
    slots are full or the table holds a quarter of its entries)."""
    max_pts = slot_points.shape[1]
    max_slots = min(slot_keys.shape[0], table.shape[0] // 4)  # load factor <= 1/4
    for i in range(points.shape[0]):
        ix = int(np.floor(points[i, 0] * inv_voxel))
        iy = int(np.floor(points[i, 1] * inv_voxel))
        iz = int(np.floor(points[i, 2] * inv_voxel))
        key = _pack(ix, iy, iz)
        s = _find(table, key)
        if s < 0:
            if n_slots == max_slots:
                return n_slots, i
            s = n_slots
            n_slots += 1
            slot_keys[s] = key
            slot_count[s] = 0
            _table_put(table, key, s)
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


@dataclass(slots=True)
class Neighbours:
    """The map points around each query at its last search, kept for the next search of the
    same queries against the same map (the filter's re-searches within one sweep).

    A search keeps every map point within the k-th nearest distance + margin_m of the query;
    a query that has since moved at most margin_m / 2, within the same voxel, has its k
    nearest among them (each of its new k nearest lies within the old k-th distance + twice
    the move, and the search looks in the same 27 voxels), so the next search scans those few
    instead of the 27 voxels, and finds exactly the same points."""

    margin_m: float
    idx: np.ndarray  # [N, C] int64 map point indices (slot * max points per voxel + j)
    n: np.ndarray  # [N] int64 how many are kept, -1 for none (the next search is a full one)
    at: np.ndarray  # [N, 3] where each query was when they were kept

    @classmethod
    def empty(cls, n_queries: int, margin_m: float, capacity: int = 48) -> Neighbours:
        return cls(
            margin_m,
            np.zeros((n_queries, capacity), np.int64),
            np.full(n_queries, -1, np.int64),
            np.zeros((n_queries, 3)),
        )

    def first(self, n_queries: int) -> Neighbours:
        """The first n_queries rows of these buffers, none kept (a new sweep's queries reuse
        one sweep's memory instead of fresh pages); n_queries <= len(self.n)."""
        view = Neighbours(
            self.margin_m, self.idx[:n_queries], self.n[:n_queries], self.at[:n_queries]
        )
        view.n[:] = -1
        return view


@nb.njit(cache=True, inline="always")
def _keep_best(best_d, best_i, k, d2, idx) -> None:
    """Insert distance d2 [m^2] of map point idx into the k best (ascending) so far."""
    m = k - 1
    while m > 0 and best_d[m - 1] > d2:
        best_d[m] = best_d[m - 1]
        best_i[m] = best_i[m - 1]
        m -= 1
    best_d[m] = d2
    best_i[m] = idx


@nb.njit(cache=True, parallel=True)
def _fit_planes(
    queries,  # [N, 3]
    inv_voxel,
    voxel,
    k,
    max_dist2,
    plane_tol,  # [N]
    table,
    slot_points,
    slot_count,
    normal,  # [N, 3] out
    offset,  # [N] out
    valid,  # [N] out
    margin,  # m: keep candidates within the k-th distance + margin (0: keep none)
    cand,  # [N, C] map point indices (slot * max points + j) in and out
    cand_n,  # [N] how many, -1 for none, in and out
    cand_at,  # [N, 3] where each query was when they were kept, in and out
) -> None:
    n = queries.shape[0]
    max_pts = slot_points.shape[1]
    reach2 = (margin / 2.0) ** 2  # a query this close to cand_at has its k nearest in cand
    n_chunks = min(n, 256)
    flat = slot_points.reshape(-1, 3)  # [slots * max_pts, 3]: map point idx's row, no division
    for c in nb.prange(n_chunks):
        best_d = np.empty(k)
        best_i = np.empty(k, np.int64)
        seen_d = np.empty(27 * max_pts)  # the points seen near the bound, to keep
        seen_i = np.empty(27 * max_pts, np.int64)
        for i in range(c * n // n_chunks, (c + 1) * n // n_chunks):
            qx, qy, qz = queries[i, 0], queries[i, 1], queries[i, 2]
            best_d[:] = np.inf
            found = 0
            ax, ay, az = qx - cand_at[i, 0], qy - cand_at[i, 1], qz - cand_at[i, 2]
            if (
                cand_n[i] >= 0
                and ax * ax + ay * ay + az * az <= reach2
                and np.floor(qx * inv_voxel) == np.floor(cand_at[i, 0] * inv_voxel)
                and np.floor(qy * inv_voxel) == np.floor(cand_at[i, 1] * inv_voxel)
                and np.floor(qz * inv_voxel) == np.floor(cand_at[i, 2] * inv_voxel)
            ):  # the same 27 voxels around it, and its k nearest among the kept ones
                for t in range(cand_n[i]):  # the k nearest are among the kept candidates
                    idx = cand[i, t]
                    ex, ey, ez = flat[idx, 0] - qx, flat[idx, 1] - qy, flat[idx, 2] - qz
                    d2 = ex * ex + ey * ey + ez * ez
                    if d2 < best_d[k - 1] and d2 <= max_dist2:
                        _keep_best(best_d, best_i, k, d2, idx)
                        found += 1
            else:
                found = _search(
                    qx,
                    qy,
                    qz,
                    inv_voxel,
                    voxel,
                    k,
                    max_dist2,
                    margin,
                    table,
                    slot_points,
                    slot_count,
                    best_d,
                    best_i,
                    seen_d,
                    seen_i,
                    cand[i],
                    cand_n[i : i + 1],
                )
                cand_at[i, 0], cand_at[i, 1], cand_at[i, 2] = qx, qy, qz
            valid[i] = False
            if found >= k:
                _fit_plane(i, k, best_i, flat, plane_tol, normal, offset, valid)


@nb.njit(cache=True, inline="always")
def _search(
    qx,
    qy,
    qz,
    inv_voxel,
    voxel,
    k,
    max_dist2,
    margin,
    table,
    slot_points,
    slot_count,
    best_d,
    best_i,
    seen_d,
    seen_i,
    keep,
    keep_n,
) -> int:
    """The k nearest map points to q in the 27 voxels around it -> how many were found (at most
    max_dist2 away; best_d, best_i hold them, nearest first). With margin > 0 also every point
    within the k-th distance + margin, into keep [C] and keep_n [1] (-1 when they overflow
    keep, or fewer than k were found)."""
    max_pts = slot_points.shape[1]
    ix = int(np.floor(qx * inv_voxel))
    iy = int(np.floor(qy * inv_voxel))
    iz = int(np.floor(qz * inv_voxel))
    # squared distances from q to the low and high faces of its voxel, to skip neighbours
    # that cannot hold a point closer than the k-th best so far (the centre comes first)
    lx, ly, lz = qx - ix * voxel, qy - iy * voxel, qz - iz * voxel
    lx2, ly2, lz2 = lx * lx, ly * ly, lz * lz
    hx2, hy2, hz2 = (voxel - lx) ** 2, (voxel - ly) ** 2, (voxel - lz) ** 2
    found = 0
    n_seen = 0
    bound2 = (np.sqrt(max_dist2) + margin) ** 2  # farther than this is of no use
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
        if box_d2 >= bound2:
            continue
        s = _find(table, _pack(ix + dx, iy + dy, iz + dz))
        if s < 0:
            continue
        for j in range(slot_count[s]):
            px, py, pz = slot_points[s, j, 0], slot_points[s, j, 1], slot_points[s, j, 2]
            d2 = (px - qx) ** 2 + (py - qy) ** 2 + (pz - qz) ** 2
            if d2 >= bound2:
                continue
            idx = s * max_pts + j
            if margin > 0.0:
                seen_d[n_seen] = d2
                seen_i[n_seen] = idx
                n_seen += 1
            if d2 < best_d[k - 1] and d2 <= max_dist2:
                _keep_best(best_d, best_i, k, d2, idx)
                found += 1
                if found >= k:
                    bound2 = (
                        (np.sqrt(best_d[k - 1]) + margin) ** 2 if margin > 0.0 else best_d[k - 1]
                    )
    keep_n[0] = -1
    if margin > 0.0 and found >= k:
        bound2 = (np.sqrt(best_d[k - 1]) + margin) ** 2
        m = 0
        for t in range(n_seen):
            if seen_d[t] < bound2:
                if m == len(keep):
                    return found  # too many to keep: the next search is a full one
                keep[m] = seen_i[t]
                m += 1
        keep_n[0] = m
    return found


@nb.njit(cache=True, inline="always")
def _fit_plane(i, k, best_i, flat, plane_tol, normal, offset, valid) -> None:
    """The plane through the k map points best_i [k] (rows of flat [M, 3]); query i takes it
    when all k lie within plane_tol[i] of it."""
    mx = my = mz = 0.0
    for m in range(k):
        t = best_i[m]
        mx += flat[t, 0]
        my += flat[t, 1]
        mz += flat[t, 2]
    mx, my, mz = mx / k, my / k, mz / k
    cxx = cxy = cxz = cyy = cyz = czz = 0.0
    for m in range(k):
        t = best_i[m]
        ex, ey, ez = flat[t, 0] - mx, flat[t, 1] - my, flat[t, 2] - mz
        cxx += ex * ex
        cxy += ex * ey
        cxz += ex * ez
        cyy += ey * ey
        cyz += ey * ez
        czz += ez * ez
    lam, nx, ny, nz = _smallest_eigvec(cxx / k, cxy / k, cxz / k, cyy / k, cyz / k, czz / k)
    if nx == 0.0 and ny == 0.0 and nz == 0.0:
        return
    d = -(nx * mx + ny * my + nz * mz)
    for m in range(k):
        t = best_i[m]
        r = nx * flat[t, 0] + ny * flat[t, 1] + nz * flat[t, 2] + d
        if abs(r) > plane_tol[i]:
            return
    normal[i, 0], normal[i, 1], normal[i, 2] = nx, ny, nz
    offset[i] = d
    valid[i] = True


@nb.njit(cache=True)
def _compact(keep, slot_keys, slot_points, slot_count) -> int:
    """Drop the slots not kept [n] in place -> slots left, m: each hole below m is filled with
    a kept slot from above it."""
    n = len(keep)
    m = 0
    for s in range(n):
        m += keep[s]
    last = n - 1
    for s in range(m):
        if keep[s]:
            continue
        while not keep[last]:
            last -= 1
        slot_keys[s] = slot_keys[last]
        slot_points[s] = slot_points[last]
        slot_count[s] = slot_count[last]
        last -= 1
    for s in range(m, n):
        slot_keys[s] = _EMPTY
        slot_count[s] = 0
    return m


@nb.njit(cache=True)
def _count_occupied(points, inv_voxel, table) -> int:
    hits = 0
    for i in range(points.shape[0]):
        key = _pack(
            int(np.floor(points[i, 0] * inv_voxel)),
            int(np.floor(points[i, 1] * inv_voxel)),
            int(np.floor(points[i, 2] * inv_voxel)),
        )
        if _find(table, key) >= 0:
            hits += 1
    return hits


class VoxelMap:
    """Hashed voxel map of world points, bounded by distance from the sensor."""

    def __init__(
        self,
        voxel_size_m: float = 0.5,
        max_points_per_voxel: int = 20,
        min_point_spacing_m: float = 0.05,
        reserved_voxels: int = 1 << 18,
    ) -> None:
        self.voxel_size_m = float(voxel_size_m)
        self._inv_voxel = 1.0 / self.voxel_size_m
        self._min_spacing2 = float(min_point_spacing_m) ** 2
        self._n_slots = 0
        self._evicted_at: np.ndarray | None = None
        self._alloc(reserved_voxels, max_points_per_voxel)
        # the hash table (key and slot per entry) starts at 4 entries a voxel, up to 2^17
        n_entries = 1 << max(6, min(17, (4 * reserved_voxels - 1).bit_length()))
        self._table = np.empty((n_entries, 2), dtype=np.int64)
        _rebuild_table(self._table, self._slot_keys, 0)

    def _alloc(self, n_voxels: int, max_pts: int) -> None:
        """Room for n_voxels voxels, the occupied ones carried over. The keys and points are
        np.empty: their pages become resident only as voxels take them, so a large reserve
        costs address space, not memory, and growing (a copy) is rare; a slot's points past its
        count are never read."""
        old = self._n_slots
        slot_keys = np.empty(n_voxels, dtype=np.int64)
        slot_points = np.empty((n_voxels, max_pts, 3))
        slot_count = np.zeros(n_voxels, dtype=np.int32)
        if old:
            slot_keys[:old] = self._slot_keys[:old]
            slot_points[:old] = self._slot_points[:old]
            slot_count[:old] = self._slot_count[:old]
        self._slot_keys, self._slot_points, self._slot_count = slot_keys, slot_points, slot_count

    def _grow_table(self) -> None:
        """Twice the hash table's entries (it holds at most a quarter full)."""
        self._table = np.empty((2 * len(self._table), 2), dtype=np.int64)
        _rebuild_table(self._table, self._slot_keys, self._n_slots)

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
                self._table,
                self._slot_keys,
                self._slot_points,
                self._slot_count,
                self._n_slots,
            )
            if done == len(pts):
                return
            # full at point `done`: grow the table or the storage and carry on from there
            if 4 * self._n_slots >= len(self._table):
                self._grow_table()
            if self._n_slots == len(self._slot_keys):
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
            self._n_slots = _compact(keep, self._slot_keys, self._slot_points, self._slot_count)
            _rebuild_table(self._table, self._slot_keys, self._n_slots)
        return n_drop

    def fit_planes(
        self,
        points_world: np.ndarray,  # [N, 3]
        k: int = 5,
        max_neighbor_distance_m: float = 1.0,
        plane_tolerance_m: float | np.ndarray = 0.1,  # or [N], one per query
        neighbours: Neighbours | None = None,  # kept from the last search of these queries
    ) -> PlaneMatches:
        """Fit a plane to the k nearest map points around each query point; a plane is taken
        when all k lie within plane_tolerance_m of it. With `neighbours`, the search starts
        from those kept for each query and keeps them anew (the map must not have changed)."""
        q = np.ascontiguousarray(points_world, dtype=np.float64)
        n = len(q)
        tol = np.broadcast_to(np.asarray(plane_tolerance_m, dtype=np.float64), (n,))
        normal = np.zeros((n, 3))
        offset = np.zeros(n)
        valid = np.zeros(n, dtype=np.bool_)
        nb_ = neighbours or Neighbours.empty(n, margin_m=0.0, capacity=1)  # none kept
        if n and self._n_slots:
            _fit_planes(
                q,
                self._inv_voxel,
                self.voxel_size_m,
                k,
                max_neighbor_distance_m**2,
                np.ascontiguousarray(tol),
                self._table,
                self._slot_points,
                self._slot_count,
                normal,
                offset,
                valid,
                nb_.margin_m,
                nb_.idx,
                nb_.n,
                nb_.at,
            )
        return PlaneMatches(normal=normal, offset=offset, valid=valid)

    def occupied_fraction(self, points_world: np.ndarray) -> float:  # [N, 3]
        """Fraction of the points that fall in an occupied voxel: a cheap overlap score."""
        if len(points_world) == 0:
            return 0.0
        q = np.ascontiguousarray(points_world, dtype=np.float64)
        return _count_occupied(q, self._inv_voxel, self._table) / len(q)
