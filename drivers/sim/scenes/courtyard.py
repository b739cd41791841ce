"""The outdoor scene: a square among buildings, with cars, trees, benches and lamp posts."""

from __future__ import annotations

import numpy as np

from drivers.sim.scenes.primitives import SceneBuilder, bench, closed_loop, jittered_material
from drivers.sim.scenes.scene import CHECKER, GLASS, NOISE, PLAIN, STRIPES, Scene


def _distance_to_path(xy: np.ndarray, path_xy: np.ndarray) -> np.ndarray:
    """xy [C, 2], path_xy [K, 2] polyline -> [C] distance to the nearest segment."""
    a, ab = path_xy[:-1], np.diff(path_xy, axis=0)
    t = np.einsum("cki,ki->ck", xy[:, None] - a[None], ab) / np.maximum((ab * ab).sum(1), 1e-12)
    closest = a[None] + np.clip(t, 0.0, 1.0)[..., None] * ab[None]
    return np.linalg.norm(xy[:, None] - closest, axis=-1).min(axis=1)


def _building(b: SceneBuilder, rng, centre_xy, size_xy, storeys: int, yaw: float) -> None:
    height, origin = 3.5 * storeys, (centre_xy[0], centre_xy[1], 0.0)
    sx, sy = size_xy[0] / 2, size_xy[1] / 2
    colours = [
        (0.75, 0.7, 0.6),
        (0.6, 0.35, 0.3),
        (0.85, 0.85, 0.8),
        (0.5, 0.55, 0.6),
        (0.8, 0.6, 0.4),
    ]
    facade = jittered_material(
        rng,
        colours[rng.integers(len(colours))],
        int(rng.choice([CHECKER, STRIPES, NOISE])),
        float(rng.uniform(0.3, 0.8)),
    )
    b.box((-sx, -sy, 0.0), (sx, sy, height), facade, yaw, origin)
    b.box(
        (-sx - 0.3, -sy - 0.3, height),
        (sx + 0.3, sy + 0.3, height + 0.5),
        jittered_material(rng, (0.3, 0.3, 0.32), PLAIN, 1.0),
        yaw,
        origin,
    )
    glass = jittered_material(rng, (0.15, 0.2, 0.27), PLAIN, 1.0, GLASS)
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


def courtyard(rng: np.random.Generator) -> Scene:
    """Outdoor square 160 x 160 m: buildings, cars, trees, benches; open sky."""
    b = SceneBuilder()
    b.box(
        (-80.0, -80.0, -0.3),
        (80.0, 80.0, 0.0),
        jittered_material(rng, (0.55, 0.53, 0.5), CHECKER, 0.8),
    )
    lawn = jittered_material(rng, (0.3, 0.5, 0.2), NOISE, 0.4)
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
    stone = jittered_material(rng, (0.8, 0.78, 0.72), STRIPES, 0.2)
    for x in np.arange(-6.0, 6.1, 2.4):  # colonnade in front of the central building
        b.cylinder((x, -7.0), 0.0, 3.5, 0.25, stone)
    b.box((-8.0, -7.5, 3.5), (8.0, -5.0, 3.8), stone)

    corners = np.array([(-32.0, -22.0), (32.0, -22.0), (32.0, 22.0), (-32.0, 22.0), (-32.0, -22.0)])
    edges = [
        np.linspace(a, c, int(np.ceil(np.linalg.norm(c - a) / 4.0)) + 1)[:-1]
        for a, c in zip(corners[:-1], corners[1:], strict=True)
    ]
    path = np.roll(np.vstack(edges), -8, axis=0)  # start mid-way along the south side

    pole = jittered_material(rng, (0.2, 0.22, 0.25), PLAIN, 1.0)
    posts = [(x, s * 23.6) for x in (-24, -8, 8, 24) for s in (-1, 1)]
    posts += [(s * 33.6, y) for y in (-12, 0, 12) for s in (-1, 1)]
    for xy in posts:
        b.cylinder(xy, 0.0, 4.5, 0.08, pole)
        b.box((xy[0] - 0.25, xy[1] - 0.1, 4.5), (xy[0] + 0.25, xy[1] + 0.1, 4.65), pole)

    glass = jittered_material(rng, (0.15, 0.18, 0.22), PLAIN, 1.0, GLASS)
    for y, yaw in ((40.0, np.pi / 2), (-40.0, -np.pi / 2)):  # two rows of parked cars
        xs = np.arange(-40.0, 40.1, 2.7)
        for x in xs[rng.random(len(xs)) < 0.6]:
            paint = jittered_material(rng, rng.uniform(0.1, 0.9, 3), PLAIN, 1.0)
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
    bark = jittered_material(rng, (0.35, 0.25, 0.18), NOISE, 0.1)
    leaves = jittered_material(rng, (0.2, 0.45, 0.15), NOISE, 0.3)
    for xy in _scatter(rng, 28, 3.0, path, taken, keep_out, 4.0):
        b.cylinder(xy, 0.0, 2.8, 0.18, bark)
        for z0, z1, r in ((2.4, 3.0, 1.2), (3.0, 4.6, 1.8), (4.6, 5.4, 1.1)):
            b.cylinder(xy, z0, z1, r * rng.uniform(0.85, 1.15), leaves)
    wood = jittered_material(rng, (0.55, 0.4, 0.25), STRIPES, 0.1)
    for xy in _scatter(rng, 12, 2.0, path, taken, keep_out, 2.5):
        bench(b, xy, rng.uniform(0, 2 * np.pi), wood, pole)
    bin_mat = jittered_material(rng, (0.2, 0.4, 0.25), PLAIN, 1.0)
    for xy in _scatter(rng, 12, 1.3, path, taken, keep_out, 2.0):
        b.cylinder(xy, 0.0, 1.0, 0.3, bin_mat)
    return b.build("courtyard", closed_loop(path))
