"""The indoor scenes: an office floor with its furniture, a corridor and a stairwell."""

from __future__ import annotations

import numpy as np

from drivers.sim.scenes.primitives import (
    Material,
    SceneBuilder,
    closed_loop,
    jitter_xy,
    jittered_material,
)
from drivers.sim.scenes.scene import CHECKER, NOISE, PLAIN, STRIPES, Door, Scene

# --- furniture (local frames: x along the front, the user side towards +y) ---------------------


def _desk(
    b: SceneBuilder, origin, yaw: float, wood: Material, dark: Material, seat: Material
) -> None:
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


def _shelf(
    b: SceneBuilder, origin, yaw: float, width_m: float, mat: Material, books: Material
) -> None:
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


def office(rng: np.random.Generator) -> Scene:
    """20 x 15 m office floor: five rooms off a corridor, doors, desks, shelves."""
    b = SceneBuilder()
    w, d, h = 20.0, 15.0, 3.0
    floor = jittered_material(rng, (0.5, 0.45, 0.4), CHECKER, 0.6)
    ceiling = jittered_material(rng, (0.85, 0.85, 0.82), STRIPES, 0.6)
    outer = jittered_material(rng, (0.8, 0.76, 0.66), NOISE, 0.35)
    inner = jittered_material(rng, (0.65, 0.72, 0.8), STRIPES, 0.3)
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

    wood = jittered_material(rng, (0.6, 0.45, 0.3), NOISE, 0.15)
    dark = jittered_material(rng, (0.12, 0.12, 0.14), PLAIN, 1.0)
    seat = jittered_material(rng, (0.2, 0.3, 0.6), PLAIN, 1.0)
    metal = jittered_material(rng, (0.55, 0.58, 0.6), STRIPES, 0.2)
    books = jittered_material(rng, (0.7, 0.25, 0.2), STRIPES, 0.05)
    light = Material((0.9, 0.9, 0.9), PLAIN, 1.0)
    # fmt: off
    desks = [((1.8, 0.75), 0), ((4.6, 0.75), 0), ((1.4, 5.6), 180),  # room A
             ((8.6, 0.75), 0), ((11.0, 0.75), 0), ((8.6, 5.7), 180), ((11.0, 5.7), 180),  # B
             ((19.2, 1.8), 90),  # C
             ((11.8, 9.0), 0), ((13.3, 14.3), 180), ((17.5, 14.3), 180)]  # E
    # fmt: on
    for xy, yaw_deg in desks:
        _desk(b, jitter_xy(rng, xy), np.radians(yaw_deg), wood, dark, seat)
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
    b.cylinder((0.6, 7.5), 0.5, 1.3, 0.42, jittered_material(rng, (0.25, 0.5, 0.2), NOISE, 0.1))
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
    return b.build("office", closed_loop(path), doors=_office_doors())


def _office_doors() -> tuple[Door, ...]:
    """A leaf in each of the office's seven door gaps (the walls' doors above: 1.8 m wide,
    2.2 m high, on the walls' centre lines). Each is hinged at the gap edge away from where the
    walk turns next and swings 90 degrees into a room, clear of the furniture there; the walk
    crosses every gap through its middle, 0.9 m from the open leaf."""
    gap, clearance = 1.8, 0.01  # the leaf is 2 cm narrower than the gap and 3 cm lower
    half_pi = np.pi / 2
    # fmt: off
    hinges = [  # hinge xy, closed direction (rad), swing (rad): the gaps they close
        ((2.6, 6.5), 0.0, -half_pi),  # corridor | A, opens into A
        ((17.9, 6.5), np.pi, half_pi),  # corridor | C, into C
        ((4.1, 8.5), 0.0, half_pi),  # corridor | D, into D
        ((17.9, 8.5), np.pi, -half_pi),  # corridor | E, into E
        ((7.0, 2.3), half_pi, -half_pi),  # A | B, into B
        ((14.0, 2.3), half_pi, -half_pi),  # B | C, into C
        ((10.0, 12.9), -half_pi, -half_pi),  # E | D, into D
    ]
    # fmt: on
    return tuple(
        Door(
            hinge_xyz_m=(x, y, clearance),
            width_m=gap - 2 * clearance,
            height_m=2.2 - 3 * clearance,
            closed_yaw_rad=yaw,
            swing_rad=swing,
        )
        for (x, y), yaw, swing in hinges
    )


def corridor(rng: np.random.Generator) -> Scene:
    """60 m straight corridor, smooth walls, two shallow door recesses, closed ends."""
    b = SceneBuilder()
    length, half_w, h = 60.0, 1.1, 2.8
    b.box(
        (-0.3, -1.4, -0.2),
        (length + 0.3, 1.4, 0.0),
        jittered_material(rng, (0.45, 0.45, 0.42), CHECKER, 0.5),
    )
    b.box(
        (-0.3, -1.4, h),
        (length + 0.3, 1.4, h + 0.2),
        jittered_material(rng, (0.85, 0.85, 0.85), STRIPES, 0.6),
    )
    ends = jittered_material(rng, (0.7, 0.6, 0.45), STRIPES, 0.25)
    b.box([(-0.3, -1.4, 0.0), (length, -1.4, 0.0)], [(0.0, 1.4, h), (length + 0.3, 1.4, h)], ends)
    walls = jittered_material(rng, (0.78, 0.8, 0.74), NOISE, 0.3)
    for y, door_x in ((half_w + 0.1, 20.0), (-half_w - 0.1, 41.0)):
        b.wall((0, y), (length, y), 0.2, 0.0, h, walls, doors=((door_x, 1.0),), door_height_m=2.1)
    door = jittered_material(rng, (0.45, 0.3, 0.2), PLAIN, 1.0)  # set back 0.15 m: shallow recesses
    b.box(
        [(19.45, half_w + 0.15, 0.0), (40.45, -half_w - 0.25, 0.0)],
        [(20.55, half_w + 0.25, 2.1), (41.55, -half_w - 0.15, 2.1)],
        door,
    )
    xs = np.arange(2.0, length - 1.99, 4.0)
    out = np.column_stack([xs, np.full(len(xs), 0.25)])
    back = np.column_stack([xs[::-1], np.full(len(xs), -0.25)])
    return b.build("corridor", closed_loop(np.vstack([out, back])))


def stairwell(rng: np.random.Generator) -> Scene:
    """Four floors joined by switchback stairs with landings; the walk goes up and down."""
    b = SceneBuilder()
    n_floors, storey, rise, tread, steps = 4, 3.0, 3.0 / 18, 0.28, 8  # 9 risers per flight
    run = steps * tread  # 2.24 m; flight 1 goes +x at y 0..2, flight 2 comes back at y 2.2..4.2
    x_lobby, x_end, roof = -6.0, run + 2.0, storey * n_floors
    floor = jittered_material(rng, (0.55, 0.55, 0.52), CHECKER, 0.5)
    stair = jittered_material(rng, (0.6, 0.5, 0.4), STRIPES, 0.14)
    walls = jittered_material(rng, (0.82, 0.8, 0.72), NOISE, 0.3)
    core = jittered_material(rng, (0.45, 0.6, 0.7), STRIPES, 0.3)
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
    bench = jittered_material(rng, (0.3, 0.3, 0.35), PLAIN, 1.0)
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
