"""The Scene type: a triangle mesh with a material per face and a walk path, and its textures.

The texture is evaluated at the 3-D point (planar projection along the face's dominant axis, or
3-D value noise, in numba), so no UVs are needed and the camera sees texture everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numba as nb
import numpy as np
from plyfile import PlyData, PlyElement

PLAIN, CHECKER, STRIPES, NOISE = 0, 1, 2, 3  # texture kinds
DIFFUSE, GLASS = 0, 1  # surface kinds: how the lidar sees a face (realism.LidarErrors.glass)
PATTERN_MIN = 0.6  # a pattern scales the base albedo by a factor in [PATTERN_MIN, 1]


@dataclass(frozen=True)
class Marker:
    """A surveyed point: a target on a wall or a nail in the ground, its true coordinates."""

    name: str
    xyz_m: tuple[float, float, float]  # world frame


@dataclass(frozen=True)
class Door:
    """A door leaf hinged on a vertical axis; it is not in the mesh (a gap is): the actors
    (actors.py) swing it between closed_yaw_rad and closed_yaw_rad + swing_rad."""

    hinge_xyz_m: tuple[float, float, float]  # the hinge's foot, world frame
    width_m: float
    height_m: float
    closed_yaw_rad: float  # the leaf's direction from the hinge when closed
    swing_rad: float  # signed: which way it opens
    thickness_m: float = 0.04


@dataclass(frozen=True, eq=False)
class Scene:
    """A textured triangle mesh and the operator's walk through it."""

    name: str
    vertices: np.ndarray  # [V, 3] float64, metres, world frame
    triangles: np.ndarray  # [F, 3] int32, wound outward (counter-clockwise seen from outside)
    albedo: np.ndarray  # [F, 3] float32 base RGB in [0, 1]
    texture: np.ndarray  # [F] uint8: PLAIN, CHECKER, STRIPES or NOISE
    texture_scale_m: np.ndarray  # [F] float32, the pattern's period
    walk_path: np.ndarray  # [K, 3] float64 floor points of a closed loop, walk_path[-1] == [0]
    surface: np.ndarray | None = None  # [F] uint8 DIFFUSE or GLASS; None: all DIFFUSE
    markers: tuple[Marker, ...] = ()  # surveyed points along the route, with true coordinates
    doors: tuple[Door, ...] = ()  # doors that can swing (realism.SceneDynamics.doors)

    def __post_init__(self) -> None:
        f = len(self.triangles)
        if self.surface is None:
            object.__setattr__(self, "surface", np.zeros(f, dtype=np.uint8))
        shapes = {
            "vertices": (self.vertices, (len(self.vertices), 3)),
            "triangles": (self.triangles, (f, 3)),
            "albedo": (self.albedo, (f, 3)),
            "texture": (self.texture, (f,)),
            "texture_scale_m": (self.texture_scale_m, (f,)),
            "walk_path": (self.walk_path, (len(self.walk_path), 3)),
            "surface": (self.surface, (f,)),
        }
        for name, (a, shape) in shapes.items():
            if a.shape != shape:
                raise ValueError(f"{name} must be {shape}, got {a.shape}")

    @cached_property
    def face_normals(self) -> np.ndarray:
        """[F, 3] float64 unit outward normals."""
        v = self.vertices[self.triangles]  # [F, 3, 3]
        n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
        return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-300)

    @cached_property
    def _plane_axis(self) -> np.ndarray:
        """[F] int64: the axis a face's pattern is projected along (its normal's largest)."""
        return np.argmax(np.abs(self.face_normals), axis=1)

    def albedo_at(self, face_id: np.ndarray, points_world: np.ndarray) -> np.ndarray:
        """face_id [N] int, points_world [N, 3] -> [N, 3] float32 textured albedo in [0, 1]."""
        face_id = np.ascontiguousarray(face_id, dtype=np.int64).reshape(-1)
        points = np.ascontiguousarray(points_world, dtype=np.float64).reshape(-1, 3)
        if len(face_id) != len(points):
            raise ValueError(f"{len(face_id)} face ids for {len(points)} points")
        if len(face_id) and (face_id.min() < 0 or face_id.max() >= len(self.triangles)):
            raise ValueError("face_id out of range (misses have no albedo: pass a valid face)")
        out = np.empty((len(face_id), 3), dtype=np.float32)
        _textured_albedo(
            face_id, points, self.albedo, self.texture, self.texture_scale_m, self._plane_axis, out
        )
        return out


def write_scene_ply(scene: Scene, path: Path) -> None:
    """Binary PLY: vertex x, y, z (float32); face vertex_indices, red, green, blue, texture."""
    vertex = np.empty(len(scene.vertices), dtype=[("x", "f4"), ("y", "f4"), ("z", "f4")])
    for i, c in enumerate("xyz"):
        vertex[c] = scene.vertices[:, i]
    face_dtype = [("vertex_indices", "i4", (3,))]
    face_dtype += [(c, "u1") for c in ("red", "green", "blue", "texture")]
    face = np.empty(len(scene.triangles), dtype=face_dtype)
    face["vertex_indices"] = scene.triangles
    rgb = np.round(np.clip(scene.albedo, 0.0, 1.0) * 255.0).astype(np.uint8)
    for i, c in enumerate(("red", "green", "blue")):
        face[c] = rgb[:, i]
    face["texture"] = scene.texture
    elements = [
        PlyElement.describe(vertex, "vertex"),
        PlyElement.describe(face, "face", len_types={"vertex_indices": "u1"}),
    ]
    PlyData(elements, text=False, comments=[f"digital twin scene {scene.name}"]).write(str(path))


# --- textures -----------------------------------------------------------------------------------


@nb.njit(cache=True, inline="always")
def _hash01(ix: int, iy: int, iz: int) -> float:
    """An integer lattice point -> a pseudo-random value in [0, 1] (32-bit integer hash)."""
    h = ((ix * 0x8DA6B343) ^ (iy * 0xD8163841) ^ (iz * 0xCB1AB31F)) & 0xFFFFFFFF
    h ^= h >> 15
    h = (h * 0x2C1B3C6D) & 0xFFFFFFFF
    h ^= h >> 12
    h = (h * 0x297A2D39) & 0xFFFFFFFF
    h ^= h >> 15
    return h / 4294967295.0


@nb.njit(cache=True, inline="always")
def _value_noise(x: float, y: float, z: float) -> float:
    """Smooth 3-D value noise in [0, 1] with a lattice period of 1."""
    fx, fy, fz = np.floor(x), np.floor(y), np.floor(z)
    ix, iy, iz = int(fx), int(fy), int(fz)
    tx, ty, tz = x - fx, y - fy, z - fz
    wx, wy, wz = tx * tx * (3 - 2 * tx), ty * ty * (3 - 2 * ty), tz * tz * (3 - 2 * tz)
    out = 0.0
    for c in range(8):
        dx, dy, dz = c & 1, (c >> 1) & 1, (c >> 2) & 1
        w = (wx if dx else 1 - wx) * (wy if dy else 1 - wy) * (wz if dz else 1 - wz)
        out += w * _hash01(ix + dx, iy + dy, iz + dz)
    return out


@nb.njit(cache=True, parallel=True)
def _textured_albedo(
    face_id: np.ndarray,  # [N] int64
    points: np.ndarray,  # [N, 3] float64
    albedo: np.ndarray,  # [F, 3] float32
    texture: np.ndarray,  # [F] uint8
    scale_m: np.ndarray,  # [F] float32
    plane_axis: np.ndarray,  # [F] int64
    out: np.ndarray,  # [N, 3] float32, written
) -> None:
    for i in nb.prange(len(face_id)):
        f = face_id[i]
        s = scale_m[f]
        x, y, z = points[i, 0] / s, points[i, 1] / s, points[i, 2] / s
        kind = texture[f]
        factor = 1.0
        if kind in (CHECKER, STRIPES):
            axis = plane_axis[f]
            u = y if axis == 0 else x
            v = y if axis == 2 else z
            c = np.floor(u) + (np.floor(v) if kind == CHECKER else 0.0)
            if c - 2.0 * np.floor(0.5 * c) > 0.5:
                factor = PATTERN_MIN
        elif kind == NOISE:
            n = 0.65 * _value_noise(x, y, z) + 0.35 * _value_noise(
                2.03 * x + 17, 2.03 * y, 2.03 * z
            )
            n = min(max(0.5 + 1.8 * (n - 0.5), 0.0), 1.0)
            factor = PATTERN_MIN + (1.0 - PATTERN_MIN) * n
        for j in range(3):
            out[i, j] = albedo[f, j] * factor
