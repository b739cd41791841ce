"""The campus: 480 m x 480 m of grounds for a 30-minute walk of about 2 km.

A plaza with a fountain, a hall of three storeys (switchback stairs, look-alike rooms stacked on
two floors), a lab, a glass pavilion, plain blocks with glazed windows, a car park and parked
cars along a street, trees with leafy crowns the lidar partly sees through, lamp posts and
benches, and a 70 m featureless underpass through a railway embankment. The plan and the walk
are in campus_route, the buildings in campus_buildings, the smaller things in campus_props.
The layout of the route and of the buildings on it is fixed; the seed draws the colours, the
blocks around it (size, height), the trees, the cars and the furniture's exact places.
"""

from __future__ import annotations

import numpy as np

from drivers.sim.scenes import campus_buildings as buildings
from drivers.sim.scenes import campus_props as props
from drivers.sim.scenes import campus_route as plan
from drivers.sim.scenes.primitives import Material, SceneBuilder, jittered_material
from drivers.sim.scenes.scene import CHECKER, NOISE, PLAIN, STRIPES, Scene

# plots for the plain blocks (lo, hi xy), all well clear of the route
BLOCK_LOTS = [
    *[((x0, 95.0), (x1, 225.0)) for x0, x1 in [(-225, -165), (-150, -95), (-80, -20), (-5, 50),
                                               (135, 190), (200, 230)]],
    ((65.0, 100.0), (120.0, 180.0)), ((65.0, 210.0), (120.0, 235.0)),
    *[((x0, -225.0), (x1, -135.0)) for x0, x1 in [(-225, -165), (-150, -95), (-80, -20), (-5, 45),
                                                  (150, 230)]],
    ((-235.0, -110.0), (-190.0, -30.0)), ((-235.0, -15.0), (-190.0, 75.0)),
    ((-160.0, -120.0), (-118.0, -25.0)), ((-160.0, 48.0), (-115.0, 80.0)),
    ((0.0, -50.0), (32.0, -20.0)), ((10.0, 5.0), (50.0, 45.0)), ((-15.0, -120.0), (30.0, -75.0)),
    ((223.0, -100.0), (238.0, -40.0)), ((223.0, -25.0), (238.0, 60.0)),
]  # fmt: skip
STREET_PARKING = [
    ((2.0, -14.0), (33.0, -12.0)),
    ((65.0, 79.5), (120.0, 81.5)),
]  # lo, hi: cars along x
N_TREES, N_TREES_NEAR = 130, 90  # trees scattered, of them within 30 m of the route


def _rect(origin, size) -> tuple[tuple[float, float], tuple[float, float]]:
    return (origin[0], origin[1]), (origin[0] + size[0], origin[1] + size[1])


def _ground(b: SceneBuilder, rng: np.random.Generator) -> None:
    """Grass, the paved strips along the outdoor route, the plaza and its fountain."""
    h = plan.HALF_SIZE_M
    b.box((-h, -h, -0.5), (h, h, 0.0), jittered_material(rng, (0.32, 0.48, 0.22), NOISE, 0.5))
    paving = jittered_material(rng, (0.5, 0.5, 0.48), NOISE, 0.25)
    doors = plan.route_door_xy()
    hw = plan.PATH_HALF_WIDTH_M
    los, his = [], []
    for run in plan.outdoor_runs():
        xy = run[:, :2]
        for i in range(len(xy) - 1):
            a, c = xy[i], xy[i + 1]
            u = (c - a) / np.linalg.norm(c - a)
            at_door = [np.min(np.linalg.norm(doors - p, axis=1)) < 1e-6 for p in (a, c)]
            a = a - (0.0 if at_door[0] else hw) * u  # corners are paved; doors end the strip
            c = c + (0.0 if at_door[1] else hw) * u
            lo, hi = (
                np.minimum(a, c) - hw * np.abs(u[::-1]),
                np.maximum(a, c) + hw * np.abs(u[::-1]),
            )
            if abs(a[1] - plan.TUNNEL_Y) < 1e-6 and abs(c[1] - plan.TUNNEL_Y) < 1e-6:
                tx = plan.TUNNEL_X  # no paving inside the underpass: it has its own floor
                los += [lo, (tx[1], lo[1])]
                his += [(tx[0], hi[1]), hi]
            else:
                los.append(lo)
                his.append(hi)
    lo, hi = np.array(los, dtype=float), np.array(his, dtype=float)
    b.box(
        np.column_stack([lo, np.full(len(lo), -0.05)]),
        np.column_stack([hi, np.full(len(hi), plan.PAVE_Z)]),
        paving,
    )

    (x0, y0), (x1, y1) = plan.PLAZA
    b.box(
        (x0, y0, -0.05),
        (x1, y1, plan.PLAZA_Z),
        jittered_material(rng, (0.7, 0.66, 0.6), CHECKER, 1.2),
    )
    stone = jittered_material(rng, (0.8, 0.78, 0.72), STRIPES, 0.2)
    fx, fy = plan.FOUNTAIN_XY
    b.cylinder((fx, fy), 0.0, 0.55, plan.FOUNTAIN_R, stone, sides=24)
    b.cylinder(
        (fx, fy), 0.55, 0.6, plan.FOUNTAIN_R - 0.3, Material((0.2, 0.3, 0.35), PLAIN, 1.0), sides=24
    )
    b.cylinder((fx, fy), 0.6, 2.4, 0.35, stone, sides=12)
    b.cylinder((fx, fy), 2.4, 2.7, 1.2, stone, sides=16)


def _underpass(b: SceneBuilder, rng: np.random.Generator) -> None:
    """The railway embankment and the underpass through it: smooth, plain and featureless."""
    (x0, y0), (x1, y1) = plan.EMBANKMENT
    ty, hw, th, eh = plan.TUNNEL_Y, plan.TUNNEL_HALF_W, plan.TUNNEL_H, plan.EMBANKMENT_H
    wall = jittered_material(rng, (0.55, 0.53, 0.5), STRIPES, 1.5)
    b.box(
        [(x0, y0, 0.0), (x0, ty + hw, 0.0), (x0, ty - hw, th + 0.3)],
        [(x1, ty - hw, eh), (x1, y1, eh), (x1, ty + hw, eh)],
        wall,
    )
    b.box((x0, y0, eh), (x1, y1, eh + 0.3), jittered_material(rng, (0.35, 0.3, 0.25), NOISE, 0.4))
    rails = jittered_material(rng, (0.25, 0.25, 0.27), PLAIN, 1.0)
    xr = np.array([85.0, 86.5, 102.0, 103.5])
    b.box(
        np.column_stack([xr, np.full(4, y0), np.full(4, eh + 0.3)]),
        np.column_stack([xr + 0.08, np.full(4, y1), np.full(4, eh + 0.45)]),
        rails,
    )
    plain = jittered_material(rng, (0.62, 0.62, 0.6), PLAIN, 1.0)
    inner = hw - 0.25  # the lining: walls, ceiling and floor all plain
    b.box(
        [(x0, ty - hw, 0.0), (x0, ty + inner, 0.0), (x0, ty - hw, th), (x0, ty - hw, -0.1)],
        [
            (x1, ty - inner, th),
            (x1, ty + hw, th),
            (x1, ty + hw, th + 0.3),
            (x1, ty + hw, plan.FLOOR_Z),
        ],
        plain,
    )


def _blocks(b: SceneBuilder, rng: np.random.Generator) -> list:
    """A plain block in each lot, its size and height drawn by the seed -> their footprints."""
    footprints = []
    for lo, hi in BLOCK_LOTS:
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        size = np.maximum((hi - lo) * rng.uniform(0.55, 0.95, 2), np.minimum(hi - lo, 12.0))
        start = lo + rng.uniform(0.0, 1.0, 2) * (hi - lo - size)
        footprints.append((start, start + size))
        buildings.block(b, rng, start, start + size, int(rng.integers(2, 8)))
    return footprints


def _props(b: SceneBuilder, rng: np.random.Generator, keep_out: list, route_xy: np.ndarray) -> None:
    """Lamp posts and benches along the outdoor route, cars, trees."""
    pole = jittered_material(rng, (0.2, 0.22, 0.25), PLAIN, 1.0)
    wood = jittered_material(rng, (0.55, 0.4, 0.25), STRIPES, 0.1)
    runs = plan.outdoor_runs()

    def clear(xy: np.ndarray, route_m: float) -> np.ndarray:  # [P, 2] -> [P] bool
        ok = ~props.inside_any(xy, keep_out, 1.0) & ~props.inside_any(xy, [plan.EMBANKMENT], 1.0)
        return ok & (props.distance_to_polyline(xy, route_xy) > route_m)

    lamps, _ = props.along_runs(runs, 25.0, 3.2, 6.0)
    lamps = lamps[clear(lamps, 2.5)]
    props.lamp_posts(b, lamps, pole)
    seats, heading = props.along_runs(runs, 55.0, -3.0, 10.0)
    near_lamp = np.linalg.norm(seats[:, None] - lamps[None], axis=2).min(axis=1) < 2.0  # [S]
    ok = clear(seats, 2.5) & ~near_lamp
    props.benches(b, seats[ok], heading[ok], wood, pole)

    props.car_park(b, rng, *plan.PARKING, pole)
    for (x0, y0), (x1, y1) in STREET_PARKING:
        xs = np.arange(x0 + 2.5, x1 - 2.4, 6.0)
        for x in xs[rng.random(len(xs)) < 0.7]:
            yaw = rng.choice([0.0, np.pi]) + rng.uniform(-0.03, 0.03)
            props.car(b, rng, (x, 0.5 * (y0 + y1)), yaw, pole)

    bark, greens = props.tree_materials(rng)
    alley = np.array([(-100.0 + s * 6.0, y) for y in np.arange(-62.0, 50.0, 12.0) for s in (-1, 1)])
    alley = alley[props.distance_to_polyline(alley, route_xy) > 5.5]  # [A, 2] along x = -100
    area = ((-plan.HALF_SIZE_M + 5,) * 2, (plan.HALF_SIZE_M - 5,) * 2)
    taken = list(alley)
    near = props.scatter(rng, N_TREES_NEAR, area, route_xy, 6.0, keep_out, 4.0, taken, 7.0, 30.0)
    far = props.scatter(rng, N_TREES - N_TREES_NEAR, area, route_xy, 6.0, keep_out, 4.0, taken, 9.0)
    for xy in np.vstack([alley, near, far]):
        props.tree(b, rng, xy, bark, greens[rng.integers(len(greens))])


def campus(rng: np.random.Generator) -> Scene:
    """480 m x 480 m campus: buildings with interiors, stairs, look-alike rooms, trees, cars,
    glass, a plaza and a 70 m featureless underpass; a 2 km walk that comes back on itself."""
    b = SceneBuilder()
    _ground(b, rng)
    _underpass(b, rng)
    buildings.hall(b, rng)
    buildings.lab(b, rng)
    buildings.pavilion(b, rng)
    footprints = _blocks(b, rng)
    keep_out = footprints + [
        _rect(plan.HALL_ORIGIN, plan.HALL_SIZE),
        _rect(plan.LAB_ORIGIN, plan.LAB_SIZE),
        _rect(plan.PAVILION_ORIGIN, plan.PAVILION_SIZE),
        plan.PLAZA,
        plan.PARKING,
        *STREET_PARKING,
    ]
    path = plan.walk_path()
    _props(b, rng, keep_out, path[:, :2])
    return b.build("campus", path, markers=plan.route_markers(), doors=plan.route_doors())
