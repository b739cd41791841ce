"""Procedural scenes for the digital twin, and a ray caster over them.

A scene is a triangle mesh (world frame: z up, metres) built from boxes and cylinders, with a
base albedo and a procedural texture per face, plus a closed walk path on the floor for the
operator. The texture is evaluated at the 3-D point (planar projection along the face's dominant
axis, or 3-D value noise), so no UVs are needed and the camera sees texture everywhere.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numba as nb
import numpy as np
import open3d as o3d
import open3d.core as o3c
from plyfile import PlyData, PlyElement

log = logging.getLogger(__name__)

PLAIN, CHECKER, STRIPES, NOISE = 0, 1, 2, 3  # texture kinds
PATTERN_MIN = 0.6  # a pattern scales the base albedo by a factor in [PATTERN_MIN, 1]
SCENE_NAMES: tuple[str, ...] = ("office", "corridor", "courtyard", "stairwell")


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

    def __post_init__(self) -> None:
        f = len(self.triangles)
        shapes = {
            "vertices": (self.vertices, (len(self.vertices), 3)),
            "triangles": (self.triangles, (f, 3)),
            "albedo": (self.albedo, (f, 3)),
            "texture": (self.texture, (f,)),
            "texture_scale_m": (self.texture_scale_m, (f,)),
            "walk_path": (self.walk_path, (len(self.walk_path), 3)),
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


def make_scene(name: str, seed: int = 0) -> Scene:
    """Build a scene by name; the same seed gives the same scene (colours, furniture, clutter)."""
    if name not in _BUILDERS:
        raise ValueError(f"unknown scene {name!r}; choose one of: {', '.join(SCENE_NAMES)}")
    t0 = time.perf_counter()
    scene = _BUILDERS[name](np.random.default_rng(seed))
    log.debug(
        "scene %s (seed %d): %d triangles in %.3f s",
        name,
        seed,
        len(scene.triangles),
        time.perf_counter() - t0,
    )
    return scene


def describe_scenes() -> dict[str, str]:
    """One line per scene."""
    return {
        "office": "20 x 15 m office floor: five rooms off a corridor, doors, desks, shelves",
        "corridor": "60 m straight corridor, smooth walls, two shallow door recesses, closed ends",
        "courtyard": "outdoor square 160 x 160 m: buildings, cars, trees, benches; open sky",
        "stairwell": "four floors joined by switchback stairs with landings; walk up and down",
    }


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


# --- meshes -------------------------------------------------------------------------------------


def _rot_z(yaw: float) -> np.ndarray:
    c, s = np.cos(yaw), np.sin(yaw)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _box_template() -> tuple[np.ndarray, np.ndarray]:
    """The unit cube's corners [8, 3] (bit a of the index = coordinate a) and 12 outward faces."""
    corners = np.array([[(i >> a) & 1 for a in range(3)] for i in range(8)], dtype=np.float64)
    triangles = []
    for axis in range(3):
        for side in (0, 1):
            a, b, c, d = (i for i in range(8) if (i >> axis) & 1 == side)
            for tri in ((a, b, d), (a, d, c)):
                p = corners[list(tri)]
                normal = np.cross(p[1] - p[0], p[2] - p[0])
                triangles.append(tri if normal[axis] * (2 * side - 1) > 0 else tri[::-1])
    return corners, np.array(triangles, dtype=np.int64)


_CUBE_CORNERS, _CUBE_TRIANGLES = _box_template()


def box_mesh(
    lo: np.ndarray,  # [3] or [B, 3] min corner in the local frame
    hi: np.ndarray,  # [3] or [B, 3] max corner in the local frame
    yaw: float = 0.0,
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in a frame at origin turned by yaw about z -> (vertices [8B, 3], triangles [12B, 3]).

    The triangles are wound outward (counter-clockwise seen from outside).
    """
    lo, hi = np.atleast_2d(lo).astype(np.float64), np.atleast_2d(hi).astype(np.float64)
    if np.any(hi <= lo):
        raise ValueError("every box needs hi > lo on all three axes")
    local = lo[:, None, :] + _CUBE_CORNERS[None] * (hi - lo)[:, None, :]  # [B, 8, 3]
    vertices = local.reshape(-1, 3) @ _rot_z(yaw).T + np.asarray(origin, dtype=np.float64)
    offsets = 8 * np.arange(len(lo))[:, None, None]
    return vertices, (_CUBE_TRIANGLES[None] + offsets).reshape(-1, 3)


def cylinder_mesh(
    centre_xy: tuple[float, float], z0: float, z1: float, radius_m: float, sides: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """A vertical closed prism of `sides` -> (vertices [2S+2, 3], triangles [4S, 3]), outward."""
    a = 2.0 * np.pi * np.arange(sides) / sides
    ring = np.column_stack(
        [centre_xy[0] + radius_m * np.cos(a), centre_xy[1] + radius_m * np.sin(a)]
    )
    bottom, top = np.arange(sides), sides + np.arange(sides)
    nxt = np.roll(np.arange(sides), -1)
    vertices = np.vstack(
        [
            np.column_stack([ring, np.full(sides, z0)]),
            np.column_stack([ring, np.full(sides, z1)]),
            [[centre_xy[0], centre_xy[1], z0], [centre_xy[0], centre_xy[1], z1]],
        ]
    )
    cb, ct = 2 * sides, 2 * sides + 1
    triangles = np.vstack(
        [
            np.column_stack([bottom, bottom[nxt], top[nxt]]),
            np.column_stack([bottom, top[nxt], top]),
            np.column_stack([np.full(sides, ct), top, top[nxt]]),
            np.column_stack([np.full(sides, cb), bottom[nxt], bottom]),
        ]
    )
    return vertices, triangles


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


# --- scene building -----------------------------------------------------------------------------


class Material(NamedTuple):
    albedo: tuple[float, float, float]
    texture: int
    scale_m: float


def _material(rng: np.random.Generator, rgb, texture: int, scale_m: float) -> Material:
    """A material whose colour is jittered a little by the scene's seed."""
    c = np.clip(np.asarray(rgb, dtype=np.float64) + rng.uniform(-0.04, 0.04, 3), 0.1, 0.9)
    return Material((float(c[0]), float(c[1]), float(c[2])), texture, scale_m)


class _Builder:
    """Collects meshes with their materials and assembles a Scene."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, Material]] = []

    def box(self, lo, hi, mat: Material, yaw: float = 0.0, origin=(0.0, 0.0, 0.0)) -> None:
        self._parts.append((*box_mesh(lo, hi, yaw, origin), mat))

    def cylinder(self, centre_xy, z0: float, z1: float, radius_m: float, mat: Material) -> None:
        self._parts.append((*cylinder_mesh(centre_xy, z0, z1, radius_m), mat))

    def wall(self, a, b, thickness_m, z0, z1, mat: Material, doors=(), door_height_m=2.2) -> None:
        """An axis-aligned wall whose centre line runs from a to b ([2] xy), with door gaps:
        doors = ((centre along the wall's axis, width), ...), each with a lintel above it."""
        axis = 0 if a[1] == b[1] else 1
        s0, s1 = sorted((a[axis], b[axis]))
        spans, start = [], s0
        for centre, width in sorted(doors):
            spans += [
                (start, centre - width / 2, z0),
                (centre - width / 2, centre + width / 2, z0 + door_height_m),
            ]
            start = centre + width / 2
        spans.append((start, s1, z0))
        lo = np.tile([0.0, 0.0, 0.0], (len(spans), 1))
        hi = np.tile([0.0, 0.0, z1], (len(spans), 1))
        lo[:, axis], hi[:, axis] = [s[0] for s in spans], [s[1] for s in spans]
        lo[:, 1 - axis], hi[:, 1 - axis] = (
            a[1 - axis] - thickness_m / 2,
            a[1 - axis] + thickness_m / 2,
        )
        lo[:, 2] = [s[2] for s in spans]
        keep = hi[:, axis] - lo[:, axis] > 1e-6
        self.box(lo[keep], hi[keep], mat)

    def build(self, name: str, walk_path: np.ndarray) -> Scene:
        counts = np.array([len(v) for v, _, _ in self._parts])
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]])
        n_tri = [len(t) for _, t, _ in self._parts]
        mats = [m for _, _, m in self._parts]
        return Scene(
            name=name,
            vertices=np.concatenate([v for v, _, _ in self._parts]),
            triangles=np.concatenate(
                [t + o for (_, t, _), o in zip(self._parts, offsets, strict=True)]
            ).astype(np.int32),
            albedo=np.repeat(np.array([m.albedo for m in mats], dtype=np.float32), n_tri, axis=0),
            texture=np.repeat(np.array([m.texture for m in mats], dtype=np.uint8), n_tri),
            texture_scale_m=np.repeat(np.array([m.scale_m for m in mats], dtype=np.float32), n_tri),
            walk_path=np.asarray(walk_path, dtype=np.float64),
        )


def _loop(points_xy, z: float = 0.0) -> np.ndarray:
    """[K, 2] waypoints -> [K+1, 3] closed loop at height z (the start repeated at the end)."""
    p = np.asarray(points_xy, dtype=np.float64)
    return np.column_stack([np.vstack([p, p[:1]]), np.full(len(p) + 1, z)])


def _jitter(rng: np.random.Generator, xy, m: float = 0.08) -> tuple[float, float, float]:
    return (xy[0] + rng.uniform(-m, m), xy[1] + rng.uniform(-m, m), 0.0)


# --- furniture (local frames: x along the front, the user side towards +y) ---------------------


def _desk(b: _Builder, origin, yaw: float, wood: Material, dark: Material, seat: Material) -> None:
    parts = [
        ((-0.8, -0.4, 0.72), (0.8, 0.4, 0.76), wood),  # top
        ((-0.8, -0.4, 0.0), (-0.76, 0.4, 0.72), wood),  # sides
        ((0.76, -0.4, 0.0), (0.8, 0.4, 0.72), wood),
        ((-0.76, -0.4, 0.3), (0.76, -0.36, 0.72), wood),  # modesty panel
        ((-0.25, -0.25, 0.76), (0.25, -0.2, 1.08), dark),  # monitor
        ((-0.22, 0.55, 0.42), (0.22, 0.99, 0.48), seat),  # chair seat, column, back
        ((-0.03, 0.74, 0.0), (0.03, 0.8, 0.42), dark),
        ((-0.22, 0.95, 0.48), (0.22, 0.99, 0.9), seat),
    ]
    for lo, hi, mat in parts:
        b.box(lo, hi, mat, yaw, origin)


def _shelf(b: _Builder, origin, yaw: float, width_m: float, mat: Material, books: Material) -> None:
    w = width_m / 2
    b.box((-w, -0.2, 0.0), (-w + 0.03, 0.2, 2.0), mat, yaw, origin)
    b.box((w - 0.03, -0.2, 0.0), (w, 0.2, 2.0), mat, yaw, origin)
    b.box((-w, -0.2, 0.0), (w, -0.17, 2.0), mat, yaw, origin)  # back panel
    levels = np.array([0.05, 0.45, 0.85, 1.25, 1.65, 1.97])
    b.box(
        np.column_stack([np.full(6, -w), np.full(6, -0.17), levels]),
        np.column_stack([np.full(6, w), np.full(6, 0.2), levels + 0.03]),
        mat,
        yaw,
        origin,
    )
    b.box(
        np.column_stack([np.full(4, -w + 0.1), np.full(4, -0.15), levels[:4] + 0.03]),
        np.column_stack([np.full(4, w * 0.4), np.full(4, 0.12), levels[:4] + 0.3]),
        books,
        yaw,
        origin,
    )


def _office(rng: np.random.Generator) -> Scene:
    b = _Builder()
    w, d, h = 20.0, 15.0, 3.0
    floor = _material(rng, (0.5, 0.45, 0.4), CHECKER, 0.6)
    ceiling = _material(rng, (0.85, 0.85, 0.82), STRIPES, 0.6)
    outer = _material(rng, (0.8, 0.76, 0.66), NOISE, 0.35)
    inner = _material(rng, (0.65, 0.72, 0.8), STRIPES, 0.3)
    b.box((-0.2, -0.2, -0.2), (w + 0.2, d + 0.2, 0.0), floor)
    b.box((-0.2, -0.2, h), (w + 0.2, d + 0.2, h + 0.2), ceiling)
    b.box(
        [(-0.2, -0.2, 0), (w, -0.2, 0), (0, -0.2, 0), (0, d, 0)],
        [(0, d + 0.2, h), (w + 0.2, d + 0.2, h), (w, 0, h), (w, d + 0.2, h)],
        outer,
    )
    t = 0.12
    b.wall((0, 6.5), (w, 6.5), t, 0, h, inner, doors=((3.5, 1.8), (17.0, 1.8)))  # corridor
    b.wall((0, 8.5), (w, 8.5), t, 0, h, inner, doors=((5.0, 1.8), (17.0, 1.8)))
    b.wall((7, 0), (7, 6.5), t, 0, h, inner, doors=((3.2, 1.8),))  # south rooms A | B | C
    b.wall((14, 0), (14, 6.5), t, 0, h, inner, doors=((3.2, 1.8),))
    b.wall((10, 8.5), (10, d), t, 0, h, inner, doors=((12.0, 1.8),))  # north rooms D | E

    wood = _material(rng, (0.6, 0.45, 0.3), NOISE, 0.15)
    dark = _material(rng, (0.12, 0.12, 0.14), PLAIN, 1.0)
    seat = _material(rng, (0.2, 0.3, 0.6), PLAIN, 1.0)
    metal = _material(rng, (0.55, 0.58, 0.6), STRIPES, 0.2)
    books = _material(rng, (0.7, 0.25, 0.2), STRIPES, 0.05)
    light = Material((0.9, 0.9, 0.9), PLAIN, 1.0)
    # fmt: off
    desks = [((1.8, 0.75), 0), ((4.6, 0.75), 0), ((1.4, 5.6), 180),  # room A
             ((8.6, 0.75), 0), ((11.0, 0.75), 0), ((8.6, 5.7), 180), ((11.0, 5.7), 180),  # B
             ((19.2, 1.8), 90),  # C
             ((11.8, 9.0), 0), ((13.3, 14.3), 180), ((17.5, 14.3), 180)]  # E
    # fmt: on
    for xy, yaw_deg in desks:
        _desk(b, _jitter(rng, xy), np.radians(yaw_deg), wood, dark, seat)
    shelves = [
        ((0.25, 3.0), -90, 2.0),
        ((13.7, 5.3), 90, 1.6),
        ((17.0, 0.25), 0, 2.4),
        ((7.0, 14.75), 180, 3.0),
        ((19.65, 11.5), 90, 2.4),
    ]
    for xy, yaw_deg, width in shelves:
        _shelf(b, (*xy, 0.0), np.radians(yaw_deg), width, metal, books)
    cabinets = [(5.9, 5.6), (13.2, 0.3), (14.3, 5.5), (9.2, 9.0), (18.9, 8.8)]
    lo = np.array([(x, y, 0.0) for x, y in cabinets])
    b.box(lo, lo + (0.6, 0.6, 1.2), metal)
    b.box((1.5, 11.0, 0.72), (3.5, 13.0, 0.76), wood)  # meeting table in D, pedestal, chairs
    b.box((2.3, 11.8, 0.0), (2.7, 12.2, 0.72), dark)
    b.box([(0.85, 11.8, 0.0), (3.7, 11.8, 0.0)], [(1.3, 12.2, 0.48), (4.15, 12.2, 0.48)], seat)
    b.cylinder((0.6, 7.5), 0.0, 0.5, 0.3, dark)  # plant in the corridor
    b.cylinder((0.6, 7.5), 0.5, 1.3, 0.42, _material(rng, (0.25, 0.5, 0.2), NOISE, 0.1))
    lights = np.array(
        [(3.5, 3.2), (10.5, 3.2), (17.0, 3.2), (5.0, 11.8), (15.0, 11.8), (10.0, 7.5)]
    )
    b.box(
        np.column_stack([lights - (0.6, 0.15), np.full(6, h - 0.04)]),
        np.column_stack([lights + (0.6, 0.15), np.full(6, h)]),
        light,
    )

    # fmt: off
    path = [(6, 7.5), (3.5, 7.5), (3.5, 5.0), (3.5, 3.2), (6.0, 3.2), (8.5, 3.2), (11, 3.2),  # A, B
            (13, 3.2), (15.5, 3.2), (17, 4.8), (17, 7.5), (17, 10.2), (15, 12), (12.5, 12),  # C, E
            (10, 12), (7.5, 12), (5.5, 11), (5, 9.8), (5, 7.5)]  # D, back along the corridor
    # fmt: on
    return b.build("office", _loop(path))


def _corridor(rng: np.random.Generator) -> Scene:
    b = _Builder()
    length, half_w, h = 60.0, 1.1, 2.8
    b.box(
        (-0.3, -1.4, -0.2),
        (length + 0.3, 1.4, 0.0),
        _material(rng, (0.45, 0.45, 0.42), CHECKER, 0.5),
    )
    b.box(
        (-0.3, -1.4, h),
        (length + 0.3, 1.4, h + 0.2),
        _material(rng, (0.85, 0.85, 0.85), STRIPES, 0.6),
    )
    ends = _material(rng, (0.7, 0.6, 0.45), STRIPES, 0.25)
    b.box([(-0.3, -1.4, 0.0), (length, -1.4, 0.0)], [(0.0, 1.4, h), (length + 0.3, 1.4, h)], ends)
    walls = _material(rng, (0.78, 0.8, 0.74), NOISE, 0.3)
    for y, door_x in ((half_w + 0.1, 20.0), (-half_w - 0.1, 41.0)):
        b.wall((0, y), (length, y), 0.2, 0.0, h, walls, doors=((door_x, 1.0),), door_height_m=2.1)
    door = _material(rng, (0.45, 0.3, 0.2), PLAIN, 1.0)  # set back 0.15 m: shallow recesses
    b.box(
        [(19.45, half_w + 0.15, 0.0), (40.45, -half_w - 0.25, 0.0)],
        [(20.55, half_w + 0.25, 2.1), (41.55, -half_w - 0.15, 2.1)],
        door,
    )
    xs = np.arange(2.0, length - 1.99, 4.0)
    out = np.column_stack([xs, np.full(len(xs), 0.25)])
    back = np.column_stack([xs[::-1], np.full(len(xs), -0.25)])
    return b.build("corridor", _loop(np.vstack([out, back])))


def _distance_to_path(xy: np.ndarray, path_xy: np.ndarray) -> np.ndarray:
    """xy [C, 2], path_xy [K, 2] polyline -> [C] distance to the nearest segment."""
    a, ab = path_xy[:-1], np.diff(path_xy, axis=0)
    t = np.einsum("cki,ki->ck", xy[:, None] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-12)
    closest = a[None] + np.clip(t, 0.0, 1.0)[..., None] * ab[None]
    return np.linalg.norm(xy[:, None] - closest, axis=-1).min(axis=1)


def _building(b: _Builder, rng, centre_xy, size_xy, storeys: int, yaw: float) -> None:
    height, origin = 3.5 * storeys, (centre_xy[0], centre_xy[1], 0.0)
    sx, sy = size_xy[0] / 2, size_xy[1] / 2
    colours = [
        (0.75, 0.7, 0.6),
        (0.6, 0.35, 0.3),
        (0.85, 0.85, 0.8),
        (0.5, 0.55, 0.6),
        (0.8, 0.6, 0.4),
    ]
    facade = _material(
        rng,
        colours[rng.integers(len(colours))],
        int(rng.choice([CHECKER, STRIPES, NOISE])),
        float(rng.uniform(0.3, 0.8)),
    )
    b.box((-sx, -sy, 0.0), (sx, sy, height), facade, yaw, origin)
    b.box(
        (-sx - 0.3, -sy - 0.3, height),
        (sx + 0.3, sy + 0.3, height + 0.5),
        _material(rng, (0.3, 0.3, 0.32), PLAIN, 1.0),
        yaw,
        origin,
    )
    glass = _material(rng, (0.15, 0.2, 0.27), PLAIN, 1.0)
    z = 3.5 * np.arange(storeys) + 0.9
    los, his = [], []
    for half_len, half_dep, along in ((sx, sy, 0), (sy, sx, 1)):
        a = np.arange(-half_len + 1.8, half_len - 1.0, 3.0)
        aa, zz = (g.ravel() for g in np.meshgrid(a, z))
        for sign in (-1.0, 1.0):
            lo = np.column_stack(
                [aa - 0.7, np.full(len(aa), min(sign * half_dep, sign * (half_dep + 0.06))), zz]
            )
            hi = np.column_stack(
                [
                    aa + 0.7,
                    np.full(len(aa), max(sign * half_dep, sign * (half_dep + 0.06))),
                    zz + 1.6,
                ]
            )
            los.append(lo if along == 0 else lo[:, [1, 0, 2]])
            his.append(hi if along == 0 else hi[:, [1, 0, 2]])
    b.box(np.vstack(los), np.vstack(his), glass, yaw, origin)


def _scatter(
    rng, n: int, clearance_m: float, path_xy, taken: list, keep_out, min_sep_m: float
) -> list:
    """Up to n positions in the square's interior, clear of the path, keep-out boxes and `taken`."""
    cand = rng.uniform((-50.0, -36.0), (50.0, 36.0), size=(40 * n, 2))
    ok = _distance_to_path(cand, path_xy) >= clearance_m
    for lo, hi in keep_out:
        ok &= ~np.all((cand > lo) & (cand < hi), axis=1)
    chosen: list = []
    for c in cand[ok]:  # a few hundred candidates: objects, not points
        if len(chosen) == n:
            break
        if not taken or np.min(np.linalg.norm(np.asarray(taken) - c, axis=1)) >= min_sep_m:
            chosen.append(c)
            taken.append(c)
    return chosen


def _courtyard(rng: np.random.Generator) -> Scene:
    b = _Builder()
    b.box((-80.0, -80.0, -0.3), (80.0, 80.0, 0.0), _material(rng, (0.55, 0.53, 0.5), CHECKER, 0.8))
    lawn = _material(rng, (0.3, 0.5, 0.2), NOISE, 0.4)
    b.box(
        [(-26.0, -16.0, 0.0), (12.0, -16.0, 0.0)], [(-12.0, 16.0, 0.03), (26.0, 16.0, 0.03)], lawn
    )
    buildings = [
        ((-35, 58), (40, 14), 5, 0.0),
        ((20, 60), (50, 16), 6, 0.0),
        ((-30, -58), (50, 14), 4, 0.0),
        ((30, -60), (40, 16), 7, 0.0),
        ((-62, 0), (16, 60), 5, 0.0),
        ((62, 5), (16, 50), 6, 0.0),
        ((60, -38), (20, 12), 4, 0.5),
        ((-58, 45), (14, 14), 8, 0.3),
        ((0, 0), (16, 10), 3, 0.0),
    ]
    for centre, size, storeys, yaw in buildings:
        _building(b, rng, centre, size, storeys, yaw)
    stone = _material(rng, (0.8, 0.78, 0.72), STRIPES, 0.2)
    for x in np.arange(-6.0, 6.1, 2.4):  # colonnade in front of the central building
        b.cylinder((x, -7.0), 0.0, 3.5, 0.25, stone)
    b.box((-8.0, -7.5, 3.5), (8.0, -5.0, 3.8), stone)

    corners = np.array([(-32.0, -22.0), (32.0, -22.0), (32.0, 22.0), (-32.0, 22.0), (-32.0, -22.0)])
    edges = [
        np.linspace(a, c, int(np.ceil(np.linalg.norm(c - a) / 4.0)) + 1)[:-1]
        for a, c in zip(corners[:-1], corners[1:], strict=True)
    ]
    path = np.roll(np.vstack(edges), -8, axis=0)  # start mid-way along the south side

    pole = _material(rng, (0.2, 0.22, 0.25), PLAIN, 1.0)
    posts = [(x, s * 23.6) for x in (-24, -8, 8, 24) for s in (-1, 1)]
    posts += [(s * 33.6, y) for y in (-12, 0, 12) for s in (-1, 1)]
    for xy in posts:
        b.cylinder(xy, 0.0, 4.5, 0.08, pole)
        b.box((xy[0] - 0.25, xy[1] - 0.1, 4.5), (xy[0] + 0.25, xy[1] + 0.1, 4.65), pole)

    glass = _material(rng, (0.15, 0.18, 0.22), PLAIN, 1.0)
    for y, yaw in ((40.0, np.pi / 2), (-40.0, -np.pi / 2)):  # two rows of parked cars
        xs = np.arange(-40.0, 40.1, 2.7)
        for x in xs[rng.random(len(xs)) < 0.6]:
            paint = _material(rng, rng.uniform(0.1, 0.9, 3), PLAIN, 1.0)
            origin = (x, y + rng.uniform(-0.2, 0.2), 0.0)
            a = yaw + rng.uniform(-0.05, 0.05)
            b.box((-2.2, -0.9, 0.3), (2.2, 0.9, 1.0), paint, a, origin)
            b.box((-1.2, -0.8, 1.0), (1.0, 0.8, 1.45), glass, a, origin)
            wheels = np.array(
                [(-1.7, -0.95, 0.0), (1.1, -0.95, 0.0), (-1.7, 0.7, 0.0), (1.1, 0.7, 0.0)]
            )
            b.box(wheels, wheels + (0.6, 0.25, 0.6), pole, a, origin)

    keep_out = [((-11.0, -10.0), (11.0, 8.0)), ((47.0, -50.0), (75.0, -26.0))]
    taken: list = [np.array(p, dtype=float) for p in posts]
    bark = _material(rng, (0.35, 0.25, 0.18), NOISE, 0.1)
    leaves = _material(rng, (0.2, 0.45, 0.15), NOISE, 0.3)
    for xy in _scatter(rng, 28, 3.0, path, taken, keep_out, 4.0):
        b.cylinder(xy, 0.0, 2.8, 0.18, bark)
        for z0, z1, r in ((2.4, 3.0, 1.2), (3.0, 4.6, 1.8), (4.6, 5.4, 1.1)):
            b.cylinder(xy, z0, z1, r * rng.uniform(0.85, 1.15), leaves)
    wood = _material(rng, (0.55, 0.4, 0.25), STRIPES, 0.1)
    for xy in _scatter(rng, 12, 2.0, path, taken, keep_out, 2.5):
        a, origin = rng.uniform(0, 2 * np.pi), (xy[0], xy[1], 0.0)
        b.box(
            [(-0.9, -0.25, 0.42), (-0.9, 0.2, 0.47)],
            [(0.9, 0.25, 0.47), (0.9, 0.25, 0.85)],
            wood,
            a,
            origin,
        )
        b.box(
            [(-0.8, -0.2, 0.0), (0.7, -0.2, 0.0)],
            [(-0.7, 0.2, 0.42), (0.8, 0.2, 0.42)],
            pole,
            a,
            origin,
        )
    bin_mat = _material(rng, (0.2, 0.4, 0.25), PLAIN, 1.0)
    for xy in _scatter(rng, 12, 1.3, path, taken, keep_out, 2.0):
        b.cylinder(xy, 0.0, 1.0, 0.3, bin_mat)
    return b.build("courtyard", _loop(path))


def _stairwell(rng: np.random.Generator) -> Scene:
    b = _Builder()
    n_floors, storey, rise, tread, steps = 4, 3.0, 3.0 / 18, 0.28, 8  # 9 risers per flight
    run = steps * tread  # 2.24 m; flight 1 goes +x at y 0..2, flight 2 comes back at y 2.2..4.2
    x_lobby, x_end, roof = -6.0, run + 2.0, storey * n_floors
    floor = _material(rng, (0.55, 0.55, 0.52), CHECKER, 0.5)
    stair = _material(rng, (0.6, 0.5, 0.4), STRIPES, 0.14)
    walls = _material(rng, (0.82, 0.8, 0.72), NOISE, 0.3)
    core = _material(rng, (0.45, 0.6, 0.7), STRIPES, 0.3)
    b.box((x_lobby - 0.2, -0.2, -0.2), (x_end + 0.2, 4.4, 0.0), floor)  # ground slab
    b.box((x_lobby - 0.2, -0.2, roof), (x_end + 0.2, 4.4, roof + 0.2), walls)
    b.box(  # outer walls: south, north, west, east
        [
            (x_lobby - 0.2, -0.2, 0),
            (x_lobby - 0.2, 4.2, 0),
            (x_lobby - 0.2, -0.2, 0),
            (x_end, -0.2, 0),
        ],
        [
            (x_end + 0.2, 0.0, roof),
            (x_end + 0.2, 4.4, roof),
            (x_lobby, 4.4, roof),
            (x_end + 0.2, 4.4, roof),
        ],
        walls,
    )
    b.box((0.0, 2.0, 0.0), (run, 2.2, roof), core)  # the wall between the flights
    levels = storey * np.arange(n_floors)
    b.box([(x_lobby, 0.0, z - 0.2) for z in levels[1:]], [(0.0, 4.2, z) for z in levels[1:]], floor)
    b.box(
        [(run, 0.0, z + 1.3) for z in levels[:-1]],
        [(x_end, 4.2, z + 1.5) for z in levels[:-1]],
        floor,
    )
    b.box((-0.05, 0.0, levels[-1]), (0.0, 2.0, levels[-1] + 1.0), core)  # top floor guard rail
    bench = _material(rng, (0.3, 0.3, 0.35), PLAIN, 1.0)
    b.box(
        [(x_lobby, 0.3, z) for z in levels], [(x_lobby + 0.4, 1.5, z + 0.9) for z in levels], bench
    )

    i = np.arange(1, steps + 1)
    up: list[tuple[float, float, float]] = [(-4.0, 2.1, 0.0)]
    for z0 in levels[:-1]:
        top1, top2 = z0 + i * rise, z0 + storey / 2 + i * rise
        x1, x2 = (i - 1) * tread, run - i * tread
        b.box(
            np.column_stack([x1, np.zeros(steps), top1 - rise - 0.25]),
            np.column_stack([x1 + tread, np.full(steps, 2.0), top1]),
            stair,
        )
        b.box(
            np.column_stack([x2, np.full(steps, 2.2), top2 - rise - 0.25]),
            np.column_stack([x2 + tread, np.full(steps, 4.2), top2]),
            stair,
        )
        up.append((-1.0, 1.0, z0))
        up += [(x + tread / 2, 1.0, z) for x, z in zip(x1, top1, strict=True)]
        up += [(run + 1.0, 1.0, z0 + storey / 2), (run + 1.0, 3.2, z0 + storey / 2)]
        up += [(x + tread / 2, 3.2, z) for x, z in zip(x2, top2, strict=True)]
        up.append((-1.0, 3.2, z0 + storey))
    up.append((-4.0, 2.1, levels[-1]))
    path = np.array(up + up[-2::-1])  # up floor by floor, then the same way down
    return b.build("stairwell", path)


_BUILDERS: dict[str, Callable[[np.random.Generator], Scene]] = {
    "office": _office,
    "corridor": _corridor,
    "courtyard": _courtyard,
    "stairwell": _stairwell,
}
