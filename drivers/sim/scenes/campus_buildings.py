"""The campus buildings: the hall (three storeys, stairs, look-alike rooms stacked), the lab, the
glass pavilion, and the plain blocks around them (walls with window panes, no interiors).

All are axis-aligned; each builder takes its plan from campus_route (doors, stairs, rooms).
"""

from __future__ import annotations

import numpy as np

from drivers.sim.scenes import campus_route as plan
from drivers.sim.scenes.primitives import Material, SceneBuilder, jittered_material
from drivers.sim.scenes.scene import CHECKER, GLASS, NOISE, PLAIN, STRIPES

FACADE_COLOURS = [(0.75, 0.7, 0.6), (0.6, 0.35, 0.3), (0.85, 0.85, 0.8), (0.5, 0.55, 0.6)]


def _shift(origin, lo, hi) -> tuple[np.ndarray, np.ndarray]:
    """Boxes in building coordinates (lo, hi [B, 3] or [3]) -> world."""
    o = np.array([origin[0], origin[1], 0.0])
    return np.atleast_2d(lo) + o, np.atleast_2d(hi) + o


def _wall(b: SceneBuilder, origin, a, c, t, z0, z1, mat, doors=(), door_h=plan.DOOR_H) -> None:
    """SceneBuilder.wall in building coordinates: a, c [2] ends; doors ((centre, width), ...)."""
    axis = 0 if a[1] == c[1] else 1
    shift = origin[axis]
    b.wall(
        (a[0] + origin[0], a[1] + origin[1]),
        (c[0] + origin[0], c[1] + origin[1]),
        t, z0, z1, mat, doors=tuple((d + shift, w) for d, w in doors), door_height_m=door_h,
    )  # fmt: skip


def window_panes(
    b: SceneBuilder,
    glass: Material,
    lo_xy,  # [2] the footprint's min corner
    hi_xy,  # [2] its max corner
    z_sills: np.ndarray,  # [S] sill heights
    spacing_m: float = 3.0,
    keep_clear=(),  # ((x, y), radius) spots on the facades left without panes (doors, markers)
) -> None:
    """Glass panes 1.4 x 1.6 m, 3 cm in front of all four facades of a box footprint: one quad
    (two triangles) each, facing out."""
    lo, hi = np.asarray(lo_xy, dtype=float), np.asarray(hi_xy, dtype=float)
    quads = []
    for axis in (0, 1):  # panes along x on the south and north facades, along y on the others
        a = np.arange(lo[axis] + 1.8, hi[axis] - 1.0, spacing_m)  # [A] pane centres
        aa, zz = (g.ravel() for g in np.meshgrid(a, z_sills))  # [P]
        for face in (lo[1 - axis] - 0.03, hi[1 - axis] + 0.03):
            q = np.empty((len(aa), 4, 3))  # corners: [P, 4, 3]
            q[:, :, axis] = aa[:, None] + np.array([-0.7, 0.7, 0.7, -0.7])
            q[:, :, 1 - axis] = face
            q[:, :, 2] = zz[:, None] + np.array([0.0, 0.0, 1.6, 1.6])
            ok = np.ones(len(aa), dtype=bool)
            for xy, r in keep_clear:  # ground floor panes only
                ok &= (
                    np.linalg.norm(q[:, 0, :2] + q[:, 1, :2] - 2 * np.asarray(xy), axis=1) > 2 * r
                ) | (zz > 2.0)
            q = q[ok]
            outward = 1.0 if face > lo[1 - axis] else -1.0
            turn = np.cross(q[:, 1] - q[:, 0], q[:, 2] - q[:, 0])[:, 1 - axis] * outward < 0
            q[turn] = q[turn][:, ::-1]  # wind them facing out
            quads.append(q)
    q = np.concatenate(quads)  # [Q, 4, 3]
    tri = np.array([[0, 1, 2], [0, 2, 3]])
    b.mesh(
        q.reshape(-1, 3), (tri[None] + 4 * np.arange(len(q))[:, None, None]).reshape(-1, 3), glass
    )


def block(b: SceneBuilder, rng: np.random.Generator, lo_xy, hi_xy, storeys: int) -> None:
    """A plain building without an interior: a box, a roof slab, window panes."""
    height = 3.5 * storeys
    facade = jittered_material(
        rng,
        FACADE_COLOURS[rng.integers(len(FACADE_COLOURS))],
        int(rng.choice([CHECKER, STRIPES, NOISE])),
        float(rng.uniform(0.3, 0.8)),
    )
    b.box((*lo_xy, 0.0), (*hi_xy, height), facade)
    roof = jittered_material(rng, (0.3, 0.3, 0.32), PLAIN, 1.0)
    b.box(
        (lo_xy[0] - 0.3, lo_xy[1] - 0.3, height),
        (hi_xy[0] + 0.3, hi_xy[1] + 0.3, height + 0.5),
        roof,
    )
    glass = jittered_material(rng, (0.15, 0.2, 0.27), PLAIN, 1.0, GLASS)
    window_panes(b, glass, lo_xy, hi_xy, 3.5 * np.arange(storeys) + 0.9)


# --- furniture (building coordinates, z = the floor) --------------------------------------------


def _room_furniture(
    b: SceneBuilder, origin, z: float, layout: np.ndarray, mats: dict[str, Material]
) -> None:
    """The look-alike room's furniture: the same layout (drawn once) on every storey.
    layout [6] seeded offsets; the route crosses the room at y = 5.5 between x = 3.5 and 11."""
    j = layout
    desks = np.array([(1.2 + j[0], 1.0), (4.6 + j[1], 1.0), (8.0 + j[2], 1.0), (11.0, 1.0)])
    lo = np.column_stack([desks, np.full(4, z + 0.72)])
    b.box(*_shift(origin, lo, lo + (1.6, 0.8, 0.04)), mats["wood"])  # desk tops, side panels
    b.box(*_shift(origin, lo - (0, 0, 0.72), lo + (0.04, 0.8, 0.0)), mats["wood"])
    b.box(*_shift(origin, lo + (1.56, 0, -0.72), lo + (1.6, 0.8, 0.0)), mats["wood"])
    b.box(*_shift(origin, lo + (0.55, 0.1, 0.04), lo + (1.05, 0.15, 0.36)), mats["dark"])
    seats = lo + (0.55, 1.15, -0.3)  # chairs facing the desks
    b.box(*_shift(origin, seats, seats + (0.45, 0.45, 0.06)), mats["seat"])
    b.box(*_shift(origin, seats + (0, 0.4, 0.06), seats + (0.45, 0.45, 0.5)), mats["seat"])
    b.box(
        *_shift(origin, (5.3, 6.7 + 0.2 * j[3], z + 0.72), (9.2, 7.7 + 0.2 * j[3], z + 0.76)),
        mats["wood"],
    )
    b.box(*_shift(origin, (7.0, 7.0, z), (7.4, 7.4, z + 0.72)), mats["dark"])  # its pedestal
    b.box(*_shift(origin, (0.2, 4.5, z), (0.6, 8.2, z + 2.0)), mats["metal"])  # shelf, cabinet
    b.box(
        *_shift(origin, (12.4 + 0.3 * j[4], 5.6, z), (13.8, 8.2, z + 1.2 + 0.4 * j[5])),
        mats["metal"],
    )


def _stair_flights(b: SceneBuilder, origin, z0: float, mat: Material) -> None:
    """The two flights of steps from the storey at z0 to the next (see campus_route)."""
    i = np.arange(1, plan.STEPS + 1)  # [S]
    r, t, w = plan.RISE_M, plan.TREAD_M, plan.FLIGHT_W
    y1 = plan.STAIR_Y0  # flight 1 runs +x from the lobby, flight 2 back -x from the landing
    y2 = y1 + w + plan.CORE_W
    x = np.r_[plan.STAIR_X0 + (i - 1) * t, plan.STAIR_X0 + plan.RUN_M - i * t]  # [2S]
    top = np.r_[z0 + i * r, z0 + plan.STOREY_M / 2 + i * r]  # [2S] the tread heights
    y = np.r_[np.full(len(i), y1), np.full(len(i), y2)]  # [2S]
    lo = np.column_stack([x, y, top - r - 0.25])  # [2S, 3] each step 25 cm thick under its riser
    hi = np.column_stack([x + t, y + w, top])
    b.box(*_shift(origin, lo, hi), mat)


def _hall_materials(rng: np.random.Generator) -> dict[str, Material]:
    return {
        "facade": jittered_material(rng, (0.78, 0.72, 0.62), NOISE, 0.4),
        "inner": jittered_material(rng, (0.72, 0.75, 0.78), STRIPES, 0.35),
        "floor": jittered_material(rng, (0.5, 0.47, 0.42), CHECKER, 0.6),
        "core": jittered_material(rng, (0.45, 0.6, 0.7), STRIPES, 0.3),
        "stair": jittered_material(rng, (0.6, 0.5, 0.4), STRIPES, 0.14),
        "wood": jittered_material(rng, (0.6, 0.45, 0.3), NOISE, 0.15),
        "dark": jittered_material(rng, (0.12, 0.12, 0.14), PLAIN, 1.0),
        "seat": jittered_material(rng, (0.2, 0.3, 0.6), PLAIN, 1.0),
        "metal": jittered_material(rng, (0.55, 0.58, 0.6), STRIPES, 0.2),
        "glass": jittered_material(rng, (0.15, 0.2, 0.27), PLAIN, 1.0, GLASS),
        "roof": jittered_material(rng, (0.3, 0.3, 0.32), PLAIN, 1.0),
    }


def _hall_shell(b: SceneBuilder, mats: dict[str, Material]) -> None:
    """The outer walls with the three doors, the ground floor, the roof, the windows."""
    o, (w, d) = plan.HALL_ORIGIN, plan.HALL_SIZE
    roof_z, t, ew = plan.HALL_STOREYS * plan.STOREY_M, plan.HALL_WALL_M, plan.EXTERIOR_DOOR_W
    doors = plan.HALL_DOORS
    walls = [
        ((-t / 2, 0), (w + t / 2, 0), ((doors["south"][0], ew),)),
        ((-t / 2, d), (w + t / 2, d), ()),
        ((0, 0), (0, d), ((doors["west"][1], ew),)),
        ((w, 0), (w, d), ((doors["east"][1], ew),)),
    ]
    for a, c, gaps in walls:
        _wall(b, o, a, c, t, 0, roof_z + 0.6, mats["facade"], gaps)
    b.box(*_shift(o, (0, 0, -0.1), (w, d, plan.FLOOR_Z)), mats["floor"])
    b.box(*_shift(o, (0, 0, roof_z - 0.2), (w, d, roof_z + 0.3)), mats["roof"])  # ceilings: 2.8 m
    keep_clear = [((o[0] + x, o[1] + y), 3.0) for x, y in doors.values()]
    sills = plan.STOREY_M * np.arange(plan.HALL_STOREYS) + 0.9
    window_panes(b, mats["glass"], o, (o[0] + w, o[1] + d), sills, 3.0, keep_clear)


def _stair_void() -> tuple[tuple[float, float], tuple[float, float]]:
    """The stair shaft (x0, x1), (y0, y1) in hall coordinates: the flights and the landings."""
    x0, y0 = plan.STAIR_X0, plan.STAIR_Y0
    return (x0, x0 + plan.RUN_M + plan.LANDING_M), (y0, y0 + 2 * plan.FLIGHT_W + plan.CORE_W)


def _hall_storey(
    b: SceneBuilder,
    k: int,
    mats: dict[str, Material],
    layout: np.ndarray,  # [6]
) -> None:
    """Storey k: its floor slab (the stair shaft cut out), the corridor walls with the room
    doors, the partitions, the look-alike room's furniture, the flights up to the next."""
    o, (w, d), h = plan.HALL_ORIGIN, plan.HALL_SIZE, plan.STOREY_M
    z = k * h
    (vx0, vx1), (vy0, vy1) = _stair_void()
    if k > 0:
        lo = np.array([(0, 0, -0.2), (vx0, 0, -0.2), (vx0, vy1, -0.2), (vx1, 0, -0.2)]) + (0, 0, z)
        hi = np.array([(vx0, d, 0), (vx1, vy0, 0), (vx1, d, 0), (w, d, 0)], dtype=float) + (0, 0, z)
        b.box(*_shift(o, lo, hi), mats["floor"])
    c0, c1 = plan.CORRIDOR_Y
    rx, ry = plan.ROOM_DOORS_X, plan.ROOM_DOOR_W
    south = [(rx[0], ry), (rx[1], ry), (35.0, ry), (20.0, 4.0 if k == 0 else ry)]  # entrance
    lobby = (0.5 * (plan.LOBBY_X[0] + plan.LOBBY_X[1]), plan.LOBBY_X[1] - plan.LOBBY_X[0])
    north = [(8.0, ry), (24.0, ry), lobby, (41.5, ry)]
    _wall(b, o, (0, c0), (w, c0), 0.12, z, z + h, mats["inner"], south, 2.6 if k == 0 else 2.2)
    _wall(b, o, (0, c1), (w, c1), 0.12, z, z + h, mats["inner"], north, 2.5)
    for x in (plan.ROOM_X[1], 26.0):  # south partitions; north: rooms | lobby | stair core
        _wall(b, o, (x, 0), (x, c0), 0.12, z, z + h, mats["inner"])
    for x in (16.0, plan.LOBBY_X[0]):
        _wall(b, o, (x, c1), (x, d), 0.12, z, z + h, mats["inner"])
    _room_furniture(b, o, z, layout, mats)
    if k < plan.HALL_STOREYS - 1:
        _stair_flights(b, o, z, mats["stair"])
        landing = (vx0 + plan.RUN_M, vy0, z + h / 2 - 0.2), (vx1, vy1, z + h / 2)
        b.box(*_shift(o, *landing), mats["floor"])


def _stair_core(b: SceneBuilder, mats: dict[str, Material]) -> None:
    """The shaft's north and east walls, the wall between the flights, the top floor's rail."""
    o = plan.HALL_ORIGIN
    roof_z = plan.HALL_STOREYS * plan.STOREY_M
    (vx0, vx1), (vy0, vy1) = _stair_void()
    y_mid = vy0 + plan.FLIGHT_W
    top = roof_z - plan.STOREY_M
    lo = [(plan.LOBBY_X[0], vy1, 0), (vx1, vy0, 0), (vx0, y_mid, 0), (vx0 - 0.05, vy0, top)]
    hi = [(vx1 + 0.2, vy1 + 0.2, roof_z), (vx1 + 0.2, vy1 + 0.2, roof_z)]
    hi += [(vx0 + plan.RUN_M, y_mid + plan.CORE_W, roof_z), (vx0, y_mid, top + 1.0)]
    b.box(*_shift(o, np.array(lo, dtype=float), np.array(hi, dtype=float)), mats["core"])


def hall(b: SceneBuilder, rng: np.random.Generator) -> None:
    """Three storeys: a corridor along x on each, the look-alike room south of it at the west
    end (stacked, same furniture), a switchback stair off a lobby, doors east, west and south."""
    mats = _hall_materials(rng)
    layout = rng.uniform(-0.2, 0.2, 6)  # the look-alike room's furniture, drawn once
    _hall_shell(b, mats)
    for k in range(plan.HALL_STOREYS):
        _hall_storey(b, k, mats, layout)
    _stair_core(b, mats)
    reception = ((22.5, 3.0, 0.0), (25.0, 4.0, 1.1))  # the entrance hall's desk
    b.box(*_shift(plan.HALL_ORIGIN, *reception), mats["wood"])


def lab(b: SceneBuilder, rng: np.random.Generator) -> None:
    """One storey: an open lab hall with rows of benches, an office in a corner, columns."""
    o, (w, d), h = plan.LAB_ORIGIN, plan.LAB_SIZE, plan.LAB_H
    t, ew = plan.HALL_WALL_M, plan.EXTERIOR_DOOR_W
    facade = jittered_material(rng, (0.6, 0.62, 0.66), CHECKER, 0.9)
    inner = jittered_material(rng, (0.85, 0.83, 0.78), NOISE, 0.3)
    floor = jittered_material(rng, (0.45, 0.5, 0.48), CHECKER, 0.5)
    bench = jittered_material(rng, (0.35, 0.4, 0.45), STRIPES, 0.25)
    glass = jittered_material(rng, (0.15, 0.2, 0.27), PLAIN, 1.0, GLASS)
    north, west = plan.LAB_DOORS["north"], plan.LAB_DOORS["west"]
    _wall(b, o, (-t / 2, 0), (w + t / 2, 0), t, 0, h + 0.5, facade)
    _wall(b, o, (-t / 2, d), (w + t / 2, d), t, 0, h + 0.5, facade, ((north[0], ew),))
    _wall(b, o, (0, 0), (0, d), t, 0, h + 0.5, facade, ((west[1], ew),))
    _wall(b, o, (w, 0), (w, d), t, 0, h + 0.5, facade)
    b.box(*_shift(o, (0, 0, -0.1), (w, d, plan.FLOOR_Z)), floor)
    b.box(
        *_shift(o, (0, 0, h), (w, d, h + 0.3)), jittered_material(rng, (0.3, 0.3, 0.32), PLAIN, 1.0)
    )
    keep = [((o[0] + x, o[1] + y), 3.0) for x, y in plan.LAB_DOORS.values()]
    window_panes(b, glass, o, (o[0] + w, o[1] + d), np.array([1.0]), 3.0, keep)
    _wall(b, o, (0, 21), (14, 21), 0.12, 0, h, inner, ((7.0, 1.0),))  # the corner office
    _wall(b, o, (14, 21), (14, d), 0.12, 0, h, inner)
    rows = np.array([(25.0, y) for y in (4.0, 9.0, 14.0, 19.0, 24.0)] + [(3.0, 3.5), (3.0, 11.0)])
    length = np.where(rows[:, 0] > 20, 12.0, 13.0) + rng.uniform(-1.0, 0.0, len(rows))
    lo = np.column_stack([rows[:, 0], rows[:, 1] - 0.4, np.zeros(len(rows))])
    hi = np.column_stack([rows[:, 0] + length, rows[:, 1] + 0.4, np.full(len(rows), 0.9)])
    b.box(*_shift(o, lo, hi), bench)
    kit = lo[:, :2] + np.column_stack([rng.uniform(1.0, 9.0, len(rows)), np.full(len(rows), 0.1)])
    b.box(
        *_shift(
            o,
            np.column_stack([kit, np.full(len(rows), 0.9)]),
            np.column_stack([kit + 0.6, np.full(len(rows), 1.4)]),
        ),
        bench,
    )
    for x, y in ((10.0, 7.5), (30.0, 7.5), (30.0, 22.5), (10.0, 26.0)):
        b.cylinder((o[0] + x, o[1] + y), 0.0, h, 0.25, inner, sides=12)


def pavilion(b: SceneBuilder, rng: np.random.Generator) -> None:
    """One storey with walls of glass between thin mullions, doors west and east, plinths."""
    o, (w, d), h = plan.PAVILION_ORIGIN, plan.PAVILION_SIZE, plan.PAVILION_H
    glass = jittered_material(rng, (0.2, 0.28, 0.3), PLAIN, 1.0, GLASS)
    frame = jittered_material(rng, (0.2, 0.2, 0.22), PLAIN, 1.0)
    stone = jittered_material(rng, (0.7, 0.68, 0.62), CHECKER, 0.8)
    plinth = jittered_material(rng, (0.85, 0.84, 0.8), NOISE, 0.2)
    ew = plan.EXTERIOR_DOOR_W
    west, east = plan.PAVILION_DOORS["west"], plan.PAVILION_DOORS["east"]
    _wall(b, o, (-0.05, 0), (w + 0.05, 0), 0.1, 0, h, glass)
    _wall(b, o, (-0.05, d), (w + 0.05, d), 0.1, 0, h, glass)
    _wall(b, o, (0, 0), (0, d), 0.1, 0, h, glass, ((west[1], ew),), 2.4)
    _wall(b, o, (w, 0), (w, d), 0.1, 0, h, glass, ((east[1], ew),), 2.4)
    b.box(*_shift(o, (-0.5, -0.5, h), (w + 0.5, d + 0.5, h + 0.35)), frame)
    b.box(*_shift(o, (0, 0, -0.1), (w, d, plan.FLOOR_Z)), stone)
    mullions = [(x, y) for x in np.arange(0.0, w + 0.1, 2.0) for y in (-0.06, d + 0.06)]
    mullions += [
        (x, y)
        for y in np.arange(2.0, d - 0.1, 2.0)
        for x in (-0.06, w + 0.06)
        if abs(y - west[1]) > 1.5
    ]
    m = np.array(mullions)
    b.box(
        *_shift(
            o,
            np.column_stack([m - 0.06, np.zeros(len(m))]),
            np.column_stack([m + 0.06, np.full(len(m), h)]),
        ),
        frame,
    )
    spots = np.array([(x, y) for x in (5.0, 12.0, 19.0) for y in (3.0, 11.0)])
    size = rng.uniform(0.6, 1.0, (len(spots), 1))
    tall = rng.uniform(0.8, 1.4, len(spots))
    b.box(
        *_shift(
            o,
            np.column_stack([spots - size / 2, np.zeros(len(spots))]),
            np.column_stack([spots + size / 2, tall]),
        ),
        plinth,
    )
