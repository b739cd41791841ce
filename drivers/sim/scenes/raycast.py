"""The ray caster: rays into a scene's mesh with open3d (Embree) -> range, face and normal."""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np
import open3d as o3d
import open3d.core as o3c

from drivers.sim.scenes.scene import Scene


@dataclass(frozen=True)
class RayHits:
    range_m: np.ndarray  # [N] float64, inf where nothing is hit
    face_id: np.ndarray  # [N] int64, -1 for misses
    normal_world: np.ndarray  # [N, 3] float64 unit, dot(normal, direction) <= 0; zero for misses

    @property
    def hit(self) -> np.ndarray:
        """[N] bool: the ray hit the scene."""
        return self.face_id >= 0


class Raycaster:
    """Casts rays into a scene with open3d (Embree); the acceleration structure is built once."""

    def __init__(self, scene: Scene) -> None:
        self.scene = scene
        self._rays = o3d.t.geometry.RaycastingScene()
        self._rays.add_triangles(
            o3c.Tensor(scene.vertices.astype(np.float32)),
            o3c.Tensor(scene.triangles.astype(np.uint32)),
        )

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> RayHits:
        """origins [N, 3] (or [3], shared), directions [N, 3] unit, world frame -> RayHits."""
        d = np.ascontiguousarray(directions, dtype=np.float64).reshape(-1, 3)
        n = len(d)
        if n == 0:
            return RayHits(np.zeros(0), np.zeros(0, dtype=np.int64), np.zeros((0, 3)))
        rays = np.empty((n, 6), dtype=np.float32)
        rays[:, :3] = origins
        rays[:, 3:] = d
        out = self._rays.cast_rays(o3c.Tensor(rays))
        range_m, face_id = np.empty(n), np.empty(n, dtype=np.int64)
        normal = np.empty((n, 3))
        _finish_hits(
            out["t_hit"].numpy(), out["primitive_ids"].numpy(), d, self.scene.face_normals,
            range_m, face_id, normal,
        )  # fmt: skip
        return RayHits(range_m, face_id, normal)


@nb.njit(cache=True, parallel=True)
def _finish_hits(
    t_hit: np.ndarray,  # [N] float32, inf for misses
    primitive_id: np.ndarray,  # [N] uint32
    directions: np.ndarray,  # [N, 3] float64
    face_normals: np.ndarray,  # [F, 3] float64
    range_m: np.ndarray,  # [N] float64, written
    face_id: np.ndarray,  # [N] int64, written
    normal: np.ndarray,  # [N, 3] float64, written: the face normal turned against the ray
) -> None:
    for i in nb.prange(len(t_hit)):
        range_m[i] = t_hit[i]
        if not np.isfinite(t_hit[i]):
            face_id[i] = -1
            for j in range(3):
                normal[i, j] = 0.0
            continue
        f = np.int64(primitive_id[i])
        face_id[i] = f
        dot = 0.0
        for j in range(3):
            dot += face_normals[f, j] * directions[i, j]
        sign = -1.0 if dot > 0.0 else 1.0
        for j in range(3):
            normal[i, j] = sign * face_normals[f, j]
