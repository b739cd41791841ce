"""Scene building blocks: box and cylinder meshes, seeded materials, and the builder.

The builder collects meshes with their materials and assembles them into a Scene.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from drivers.sim.scenes.scene import DIFFUSE, Door, Marker, Scene


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


class Material(NamedTuple):
    albedo: tuple[float, float, float]
    texture: int
    scale_m: float
    surface: int = DIFFUSE  # DIFFUSE or GLASS


def jittered_material(
    rng: np.random.Generator, rgb, texture: int, scale_m: float, surface: int = DIFFUSE
) -> Material:
    """A material whose colour is jittered a little by the scene's seed."""
    c = np.clip(np.asarray(rgb, dtype=np.float64) + rng.uniform(-0.04, 0.04, 3), 0.1, 0.9)
    return Material((float(c[0]), float(c[1]), float(c[2])), texture, scale_m, surface)


class SceneBuilder:
    """Collects meshes with their materials and assembles a Scene."""

    def __init__(self) -> None:
        self._parts: list[tuple[np.ndarray, np.ndarray, Material]] = []

    def box(self, lo, hi, mat: Material, yaw: float = 0.0, origin=(0.0, 0.0, 0.0)) -> None:
        self._parts.append((*box_mesh(lo, hi, yaw, origin), mat))

    def cylinder(
        self, centre_xy, z0: float, z1: float, radius_m: float, mat: Material, sides: int = 16
    ) -> None:
        self._parts.append((*cylinder_mesh(centre_xy, z0, z1, radius_m, sides), mat))

    def mesh(self, vertices: np.ndarray, triangles: np.ndarray, mat: Material) -> None:
        """Raw triangles (vertices [V, 3], triangles [F, 3] indexing them), e.g. leaf cards."""
        self._parts.append((np.asarray(vertices, dtype=np.float64), np.asarray(triangles), mat))

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

    def build(
        self,
        name: str,
        walk_path: np.ndarray,
        markers: tuple[Marker, ...] = (),
        doors: tuple[Door, ...] = (),
    ) -> Scene:
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
            surface=np.repeat(np.array([m.surface for m in mats], dtype=np.uint8), n_tri),
            markers=tuple(markers),
            doors=tuple(doors),
        )


def bench(b: SceneBuilder, xy, yaw: float, seat: Material, frame: Material) -> None:
    """A park bench at floor point xy [2] turned by yaw: seat and back slats on two frames."""
    origin = (xy[0], xy[1], 0.0)
    b.box([(-0.9, -0.25, 0.42), (-0.9, 0.2, 0.47)], [(0.9, 0.25, 0.47), (0.9, 0.25, 0.85)],
          seat, yaw, origin)  # fmt: skip
    b.box([(-0.8, -0.2, 0.0), (0.7, -0.2, 0.0)], [(-0.7, 0.2, 0.42), (0.8, 0.2, 0.42)],
          frame, yaw, origin)  # fmt: skip


def closed_loop(points_xy, z: float = 0.0) -> np.ndarray:
    """[K, 2] waypoints -> [K+1, 3] closed loop at height z (the start repeated at the end)."""
    p = np.asarray(points_xy, dtype=np.float64)
    return np.column_stack([np.vstack([p, p[:1]]), np.full(len(p) + 1, z)])


def jitter_xy(rng: np.random.Generator, xy, m: float = 0.08) -> tuple[float, float, float]:
    """A floor point near xy [2], moved by up to m (metres) in x and y by the seed."""
    return (xy[0] + rng.uniform(-m, m), xy[1] + rng.uniform(-m, m), 0.0)
