"""The campus's smaller things: trees with leafy crowns, parked cars, lamp posts and benches, and
how they are scattered clear of the route and the buildings."""

from __future__ import annotations

import numpy as np

from drivers.sim.scenes.primitives import Material, SceneBuilder, bench, jittered_material
from drivers.sim.scenes.scene import GLASS, NOISE, PLAIN, STRIPES

LEAVES_PER_TREE = 600
LEAF_RADIUS_M = (0.1, 0.17)  # a leaf card is a triangle this far from its centre to its corners


def distance_to_polyline(xy: np.ndarray, path_xy: np.ndarray) -> np.ndarray:
    """xy [C, 2], path_xy [K, 2] polyline -> [C] distance to its nearest segment."""
    a, ab = path_xy[:-1], np.diff(path_xy, axis=0)  # [K-1, 2]
    out = np.full(len(xy), np.inf)
    for i in range(0, len(a), 256):  # chunks of segments keep the [C, 256] arrays small
        a_i, ab_i = a[i : i + 256], ab[i : i + 256]
        rel = xy[:, None] - a_i[None]  # [C, S, 2]
        t = np.einsum("csi,si->cs", rel, ab_i) / np.maximum((ab_i * ab_i).sum(1), 1e-12)
        d = rel - np.clip(t, 0.0, 1.0)[..., None] * ab_i[None]
        out = np.minimum(out, np.linalg.norm(d, axis=-1).min(axis=1))
    return out


def inside_any(xy: np.ndarray, rects, margin_m: float = 0.0) -> np.ndarray:
    """xy [C, 2], rects ((lo, hi), ...) -> [C] bool: inside one of them grown by margin_m."""
    out = np.zeros(len(xy), dtype=bool)
    for lo, hi in rects:
        out |= np.all((xy > np.asarray(lo) - margin_m) & (xy < np.asarray(hi) + margin_m), axis=1)
    return out


def scatter(
    rng: np.random.Generator,
    n: int,
    area: tuple,  # (lo [2], hi [2])
    route_xy: np.ndarray,  # [K, 2]
    clearance_m: float,
    keep_out,  # ((lo, hi), ...) rectangles
    keep_out_margin_m: float,
    taken: list,  # positions already used (grown by the chosen ones)
    min_sep_m: float,
    max_route_m: float = np.inf,
) -> np.ndarray:
    """Up to n positions [n, 2] in area, clear of the route (but at most max_route_m from it),
    the keep-out rectangles and `taken`."""
    cand = rng.uniform(area[0], area[1], size=(40 * n, 2))  # [C, 2]
    cand = cand[~inside_any(cand, keep_out, keep_out_margin_m)]
    d = distance_to_polyline(cand, route_xy)
    cand = cand[(d >= clearance_m) & (d <= max_route_m)]
    chosen: list = []
    for c in cand:  # a few thousand candidates: objects, not points
        if len(chosen) == n:
            break
        if not taken or np.min(np.linalg.norm(np.asarray(taken) - c, axis=1)) >= min_sep_m:
            chosen.append(c)
            taken.append(c)
    return np.array(chosen).reshape(-1, 2)


def _leaf_cards(
    rng: np.random.Generator,
    centres: np.ndarray,  # [L, 3]
) -> tuple[np.ndarray, np.ndarray]:  # [3L, 3] vertices, [L, 3] triangles
    """A randomly turned triangular leaf card at each centre."""
    n = len(centres)
    normal = rng.normal(size=(n, 3))
    normal /= np.linalg.norm(normal, axis=1, keepdims=True)
    helper = np.where(np.abs(normal[:, :1]) < 0.9, [[1.0, 0.0, 0.0]], [[0.0, 1.0, 0.0]])  # [L, 3]
    u = np.cross(normal, helper)
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    v = np.cross(normal, u)
    angle = rng.uniform(0, 2 * np.pi, (n, 1)) + np.array([0.0, 2.0, 4.0]) * np.pi / 3  # [L, 3]
    radius = rng.uniform(*LEAF_RADIUS_M, (n, 1, 1))
    corners = centres[:, None] + radius * (
        np.cos(angle)[..., None] * u[:, None] + np.sin(angle)[..., None] * v[:, None]
    )  # [L, 3, 3]
    return corners.reshape(-1, 3), np.arange(3 * n).reshape(n, 3)


def tree(b: SceneBuilder, rng: np.random.Generator, xy, bark: Material, leaves: Material) -> None:
    """A trunk, three limbs and a crown of leaf cards in clumps: a lidar sees into and partly
    through the crown, as through real foliage."""
    trunk_h = rng.uniform(2.4, 3.4)
    crown_r = rng.uniform(2.0, 3.2)
    b.cylinder(xy, 0.0, trunk_h + 0.8 * crown_r, rng.uniform(0.14, 0.24), bark, sides=8)
    centre = np.array([xy[0], xy[1], trunk_h + 0.85 * crown_r])
    for a in rng.uniform(0, 2 * np.pi, 3):  # limbs: short boxes reaching into the crown
        b.box(
            (0.0, -0.06, -0.06), (0.6 * crown_r, 0.06, 0.06), bark, a, tuple(centre - (0, 0, 0.5))
        )
    radii = np.array([crown_r, crown_r, 0.8 * crown_r])
    n_clumps = 12
    clump = rng.normal(size=(n_clumps, 3))
    clump *= rng.uniform(0.1, 0.65, (n_clumps, 1)) / np.linalg.norm(clump, axis=1, keepdims=True)
    clump = centre + clump * radii  # [12, 3] clump centres inside the crown
    which = rng.integers(n_clumps, size=LEAVES_PER_TREE)
    spread = rng.normal(scale=0.42, size=(LEAVES_PER_TREE, 3)) * radii / crown_r
    b.mesh(*_leaf_cards(rng, clump[which] + spread * 1.3), leaves)


def tree_materials(rng: np.random.Generator) -> tuple[Material, list[Material]]:
    bark = jittered_material(rng, (0.35, 0.25, 0.18), NOISE, 0.1)
    greens = [(0.2, 0.45, 0.15), (0.3, 0.5, 0.2), (0.25, 0.4, 0.12), (0.45, 0.5, 0.2)]
    return bark, [jittered_material(rng, g, NOISE, 0.3) for g in greens]


def car(b: SceneBuilder, rng: np.random.Generator, xy, yaw: float, dark: Material) -> None:
    """A parked car: body, glazed cabin (glass), four wheels."""
    paint = jittered_material(rng, rng.uniform(0.1, 0.9, 3), PLAIN, 1.0)
    glass = Material((0.15, 0.18, 0.22), PLAIN, 1.0, GLASS)
    origin = (xy[0], xy[1], 0.0)
    b.box((-2.2, -0.9, 0.3), (2.2, 0.9, 1.0), paint, yaw, origin)
    b.box((-1.2, -0.8, 1.0), (1.0, 0.8, 1.45), glass, yaw, origin)
    wheels = np.array([(-1.7, -0.95, 0.0), (1.1, -0.95, 0.0), (-1.7, 0.7, 0.0), (1.1, 0.7, 0.0)])
    b.box(wheels, wheels + (0.6, 0.25, 0.6), dark, yaw, origin)


def car_park(b: SceneBuilder, rng: np.random.Generator, lo, hi, dark: Material) -> None:
    """Four rows of cars parked nose to nose in pairs across the lot (lo, hi [2]), 60 % full."""
    ys = np.arange(lo[1] + 2.0, hi[1] - 1.9, 2.7)
    for x, yaw in (
        (lo[0] + 3.0, 0.0),
        (lo[0] + 8.2, np.pi),
        (hi[0] - 8.2, 0.0),
        (hi[0] - 3.0, np.pi),
    ):
        for y in ys[rng.random(len(ys)) < 0.6]:
            car(b, rng, (x + rng.uniform(-0.2, 0.2), y), yaw + rng.uniform(-0.05, 0.05), dark)
    marks = jittered_material(rng, (0.85, 0.85, 0.8), PLAIN, 1.0)
    b.box(
        np.column_stack([np.full(len(ys), lo[0]), ys - 1.4, np.zeros(len(ys))]),
        np.column_stack([np.full(len(ys), hi[0]), ys - 1.3, np.full(len(ys), 0.008)]),
        marks,
    )
    b.box(
        (lo[0], lo[1], -0.05),
        (hi[0], hi[1], 0.006),
        jittered_material(rng, (0.3, 0.3, 0.3), STRIPES, 2.7),
    )


def lamp_posts(b: SceneBuilder, xy: np.ndarray, pole: Material) -> None:  # xy [P, 2]
    for p in xy:
        b.cylinder(p, 0.0, 4.5, 0.08, pole, sides=8)
    b.box(
        np.column_stack([xy - (0.25, 0.1), np.full(len(xy), 4.5)]),
        np.column_stack([xy + (0.25, 0.1), np.full(len(xy), 4.65)]),
        pole,
    )


def benches(
    b: SceneBuilder, xy: np.ndarray, yaw: np.ndarray, wood: Material, frame: Material
) -> None:
    """Benches at xy [B, 2], turned by yaw [B]."""
    for p, a in zip(xy, yaw, strict=True):
        bench(b, p, a, wood, frame)


def along_runs(
    runs: list[np.ndarray], spacing_m: float, offset_m: float, end_gap_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """Points every spacing_m along each straight leg of the runs, offset_m to the left of the
    walking direction, none within end_gap_m of a leg's ends -> ([P, 2] xy, [P] leg heading)."""
    xy, heading = [], []
    for run in runs:
        for a, c in zip(run[:-1, :2], run[1:, :2], strict=True):
            length = float(np.linalg.norm(c - a))
            s = np.arange(end_gap_m, length - end_gap_m + 1e-9, spacing_m)
            if len(s) == 0:
                continue
            u = (c - a) / length
            left = np.array([-u[1], u[0]])
            xy.append(a + s[:, None] * u + offset_m * left)
            heading.append(np.full(len(s), np.arctan2(u[1], u[0])))
    return np.vstack(xy), np.concatenate(heading)
