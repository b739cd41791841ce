"""What the live view shows: the newest pose, the trajectory, and the map's new points.

The SLAM worker keeps a `NewVoxelFilter`, so only points in voxels the live map has not seen
are sent on; `LiveBuffer` keeps them (in the daemon) for every WebSocket client, each reading
from its own cursor, so a browser that connects mid-scan first gets everything so far.
"""

from __future__ import annotations

import struct
import threading
from dataclasses import dataclass

import numpy as np

from slam.voxel_hash import voxel_keys


class NewVoxelFilter:
    """Keeps one point per voxel of the live map; tells which points fall in new voxels."""

    def __init__(self, voxel_m: float = 0.2) -> None:
        self.voxel_m = voxel_m
        self._seen = np.zeros(0, np.int64)  # sorted

    def __len__(self) -> int:
        return len(self._seen)

    def new_points(self, points_world: np.ndarray) -> np.ndarray:  # [N, 3] -> [M, 3] float32
        if len(points_world) == 0:
            return np.zeros((0, 3), np.float32)
        keys, first = np.unique(voxel_keys(points_world, self.voxel_m), return_index=True)
        pos = np.searchsorted(self._seen, keys)
        hit = pos < len(self._seen)
        hit[hit] = self._seen[pos[hit]] == keys[hit]
        new = ~hit
        self._seen = np.insert(self._seen, pos[new], keys[new])
        return points_world[first[new]].astype(np.float32)


@dataclass(frozen=True)
class LivePose:
    t_ns: int  # host monotonic clock, the sweep's middle (the time of the pose)
    T_world_lidar: np.ndarray  # [4, 4]


# One binary WebSocket message, little-endian:
#   magic b"SLV1", uint32 kind (1 = update, 2 = trajectory), uint32 seq, uint32 n
#   kind 1: float64 t_s, float64 lag_s, float32[7] pose (x y z qx qy qz qw), float32[n*3] points
#   kind 2: float32[n*3] trajectory positions so far
HEADER = struct.Struct("<4sIII")
UPDATE = struct.Struct("<dd7f")
KIND_UPDATE, KIND_TRAJECTORY = 1, 2


def pack_update(seq: int, t_s: float, lag_s: float, pose7: np.ndarray, points: np.ndarray) -> bytes:
    pts = np.ascontiguousarray(points, dtype="<f4").reshape(-1, 3)  # [N, 3]
    return (
        HEADER.pack(b"SLV1", KIND_UPDATE, seq, len(pts))
        + UPDATE.pack(t_s, lag_s, *(float(x) for x in pose7))
        + pts.tobytes()
    )


def pack_trajectory(seq: int, positions: np.ndarray) -> bytes:  # [K, 3]
    pos = np.ascontiguousarray(positions, dtype="<f4").reshape(-1, 3)
    return HEADER.pack(b"SLV1", KIND_TRAJECTORY, seq, len(pos)) + pos.tobytes()


def unpack(message: bytes) -> dict:
    """The inverse of the pack functions (tests and Python clients)."""
    magic, kind, seq, n = HEADER.unpack_from(message)
    if magic != b"SLV1":
        raise ValueError("not a live-view message")
    off = HEADER.size
    out: dict = {"kind": kind, "seq": seq}
    if kind == KIND_UPDATE:
        t_s, lag_s, *pose = UPDATE.unpack_from(message, off)
        off += UPDATE.size
        out.update(t_s=t_s, lag_s=lag_s, pose=np.array(pose))
    out["points"] = np.frombuffer(message, "<f4", count=n * 3, offset=off).reshape(n, 3)
    return out


class LiveBuffer:
    """The current scan's live map and trajectory, shared by every WebSocket client."""

    def __init__(self, max_points: int = 5_000_000) -> None:
        self._lock = threading.Lock()
        self.max_points = max_points
        self.generation = 0  # counts scans, so clients notice a new one
        self._clear()

    def reset(self) -> None:
        with self._lock:
            self._clear()

    def _clear(self) -> None:
        self.generation += 1
        self._chunks: list[np.ndarray] = []  # [Ni, 3] float32, in arrival order
        self._offsets = [0]  # cumulative point counts
        self.positions: list[np.ndarray] = []  # [3] each
        self.pose: LivePose | None = None
        self.distance_m = 0.0
        self.truncated = False

    @property
    def n_points(self) -> int:
        return self._offsets[-1]

    def add(self, pose: LivePose, points: np.ndarray) -> None:  # points [N, 3] float32
        with self._lock:
            p = pose.T_world_lidar[:3, 3].copy()
            if self.positions:
                self.distance_m += float(np.linalg.norm(p - self.positions[-1]))
            self.positions.append(p)
            self.pose = pose
            if len(points) and self.n_points + len(points) <= self.max_points:
                self._chunks.append(points)
                self._offsets.append(self._offsets[-1] + len(points))
            elif len(points):
                self.truncated = True

    def since(self, cursor: int, limit: int) -> tuple[np.ndarray, int]:
        """Up to `limit` points from point index `cursor` on -> (points [M, 3], new cursor)."""
        with self._lock:
            end = min(self._offsets[-1], cursor + limit)
            if end <= cursor:
                return np.zeros((0, 3), np.float32), cursor
            i0 = int(np.searchsorted(self._offsets, cursor, side="right")) - 1
            i1 = int(np.searchsorted(self._offsets, end, side="left"))
            parts = np.concatenate(self._chunks[i0:i1])
            start = cursor - self._offsets[i0]
            return parts[start : start + (end - cursor)], end

    def trajectory(self) -> np.ndarray:  # [K, 3]
        with self._lock:
            return np.array(self.positions, np.float32).reshape(-1, 3)
