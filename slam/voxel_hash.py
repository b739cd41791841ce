"""Voxel keys and the open-addressing hash table the voxel map keeps them in, in numba.

A voxel's integer coordinates are packed into one int64 key (21 bits per axis, offset so that
+-2^20 voxels around the origin fit); the table maps keys to the map's storage slots with
linear probing over a power-of-two number of entries, each entry a key and its slot side by
side (one cache line per probe: the plane search's lookups wait on memory). `voxel_keys` is
the numpy twin of `_pack` for code outside the map that groups points by the map's voxels.
"""

from __future__ import annotations

import numba as nb
import numpy as np

_EMPTY = np.int64(-1)
_OFFSET = 1 << 20  # voxel coordinates must lie within +-2^20 voxels of the origin
_BITS = 21


@nb.njit(cache=True, inline="always")
def _pack(ix: int, iy: int, iz: int) -> np.int64:
    return (
        (np.int64(ix + _OFFSET) << (2 * _BITS))
        | (np.int64(iy + _OFFSET) << _BITS)
        | np.int64(iz + _OFFSET)
    )


def voxel_keys(points: np.ndarray, voxel_m: float) -> np.ndarray:  # [N, 3] -> [N] int64
    """The voxel of each point as the map's packed key (numpy twin of `_pack`)."""
    ijk = np.floor(points / voxel_m).astype(np.int64) + _OFFSET
    return (ijk[:, 0] << (2 * _BITS)) | (ijk[:, 1] << _BITS) | ijk[:, 2]


@nb.njit(cache=True, inline="always")
def _hash(key: np.int64, mask: int) -> int:
    """Slot of a packed key in a table of mask + 1 (a power of two) entries.

    splitmix64's finalizer, so every bit of the key reaches the low bits the mask keeps: a bare
    multiplicative hash carries the key's high bits (x) only upwards, and voxels that differ
    only in x would all collide."""
    z = np.uint64(key)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return np.int64(z & np.uint64(mask))


@nb.njit(cache=True, inline="always")
def _probe(table_keys, key, mask) -> int:
    """The entry of `key` in the table, or the empty entry where it would go."""
    i = _hash(key, mask)
    while table_keys[i] != key and table_keys[i] != _EMPTY:
        i = (i + 1) & mask
    return i


@nb.njit(cache=True)
def _find(table, key) -> int:
    """The slot of `key` in table [T, 2] (key, slot per entry), or -1."""
    mask = len(table) - 1
    i = _hash(key, mask)
    while True:
        k = table[i, 0]
        if k == key:
            return table[i, 1]
        if k == _EMPTY:
            return -1
        i = (i + 1) & mask


@nb.njit(cache=True)
def _table_put(table, key, slot) -> None:
    mask = len(table) - 1
    i = _hash(key, mask)
    while table[i, 0] != _EMPTY:
        i = (i + 1) & mask
    table[i, 0] = key
    table[i, 1] = slot


@nb.njit(cache=True)
def _rebuild_table(table, slot_keys, n_slots) -> None:
    table[:, 0] = _EMPTY
    for s in range(n_slots):
        _table_put(table, slot_keys[s], s)


def _unpack(keys: np.ndarray) -> np.ndarray:  # [N] int64 -> [N, 3] int64 voxel coordinates
    """The voxel coordinates of packed keys (the inverse of `_pack`)."""
    return (
        np.stack(
            [
                (keys >> (2 * _BITS)) & ((1 << _BITS) - 1),
                (keys >> _BITS) & ((1 << _BITS) - 1),
                keys & ((1 << _BITS) - 1),
            ],
            axis=1,
        )
        - _OFFSET
    )
