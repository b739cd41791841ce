"""Removal of moving things (people walking by): points in space that the scanner also saw
through. Every ray from the sensor to a point it measured says the space in between is free;
a map voxel that rays crossed more often than they ended in it held something only briefly.

The rays are a subsample of every registered sweep (MapBuilder keeps them). Each is walked in
half-voxel steps from the sensor to 10 % and two voxels short of its end, so a surface never
frees itself (nor does a floor that a grazing ray skims before it lands), and the map voxels it
crosses are looked up in a sorted key table. All in numba.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from slam.voxel_hash import _pack, voxel_keys


@nb.njit(cache=True)
def _key(x, y, z, inv):
    return _pack(int(np.floor(x * inv)), int(np.floor(y * inv)), int(np.floor(z * inv)))


@nb.njit(cache=True)
def _lookup(sorted_keys, key):
    pos = np.searchsorted(sorted_keys, key)
    if pos < sorted_keys.shape[0] and sorted_keys[pos] == key:
        return pos
    return -1


@nb.njit(cache=True)
def _cast(origins, ends, sorted_keys, voxel_m, free, hits):  # [R, 3], [R, 3]
    inv = 1.0 / voxel_m
    step = 0.5 * voxel_m
    for r in range(origins.shape[0]):
        o0, o1, o2 = origins[r, 0], origins[r, 1], origins[r, 2]
        d0, d1, d2 = ends[r, 0] - o0, ends[r, 1] - o1, ends[r, 2] - o2
        length = np.sqrt(d0 * d0 + d1 * d1 + d2 * d2)
        end_idx = _lookup(sorted_keys, _key(ends[r, 0], ends[r, 1], ends[r, 2], inv))
        if end_idx >= 0:
            hits[end_idx] += 1
        stop = 0.9 * length - 2.0 * voxel_m  # short of the end: grazing rays skim surfaces
        if stop <= 0:
            continue
        u0, u1, u2 = d0 / length, d1 / length, d2 / length
        last = -1
        s = 0.0
        while s < stop:
            idx = _lookup(sorted_keys, _key(o0 + u0 * s, o1 + u1 * s, o2 + u2 * s, inv))
            if idx >= 0 and idx != last and idx != end_idx:
                free[idx] += 1
                last = idx
            s += step


def static_mask(
    xyz_m: np.ndarray,  # [N, 3] the map
    ray_origins: np.ndarray,  # [R, 3] the sensor at each ray
    ray_ends: np.ndarray,  # [R, 3] the measured points
    voxel_m: float = 0.1,
    min_free: int = 3,
    free_per_hit: float = 2.0,
) -> np.ndarray:  # [N] bool, True = keep
    """False for points in voxels crossed by at least min_free rays and free_per_hit times more
    often than rays ended in them."""
    keys = voxel_keys(xyz_m, voxel_m)
    sorted_keys, inverse = np.unique(keys, return_inverse=True)
    free = np.zeros(len(sorted_keys), np.int64)
    hits = np.zeros(len(sorted_keys), np.int64)
    _cast(ray_origins.astype(np.float64), ray_ends.astype(np.float64), sorted_keys, voxel_m,
          free, hits)  # fmt: skip
    moving = (free >= min_free) & (free > free_per_hit * hits)
    return ~moving[inverse.ravel()]
