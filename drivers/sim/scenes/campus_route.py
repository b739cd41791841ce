"""The campus plan (where the buildings, doors, stairs and the underpass are) and the walk
through it: the closed route, the surveyed markers along it and the doors it passes.

World frame: x east, y north, z up, metres; the ground is the square |x|, |y| <= HALF_SIZE_M.
The route (about 2.1 km, one loop in a 30-minute walk) starts on the plaza's west side heading
east, crosses the plaza, goes down a street and through the underpass, round the car park and
a loop to the north (crossing itself), into the hall by its east door, up the stairs to the
look-alike room on the first floor, up again to the same room on the second floor, down to the
ground floor and out by the south door; across the plaza again (a crossing), through the lab,
up the tree alley and back into the hall by its west door (the ground floor a second time), out
by the south door again, west, through the glass pavilion and back to the start.
"""

from __future__ import annotations

import numpy as np

from drivers.sim.scenes.scene import Door, Marker

HALF_SIZE_M = 240.0  # the ground: 480 m x 480 m
PAVE_Z = 0.005  # paved strips along the route lie this far above the grass
PLAZA_Z = 0.01  # the plaza's paving
FLOOR_Z = 0.003  # indoor ground floors
PATH_HALF_WIDTH_M = 2.5  # of the paved strips along the outdoor route
ROUTE_STEP_M = 4.0  # the walk path's points are at most this far apart

PLAZA = ((-75.0, -35.0), (-5.0, 35.0))  # lo, hi xy: open paving
FOUNTAIN_XY, FOUNTAIN_R = (-22.0, 14.0), 3.5
PARKING = ((158.0, -105.0), (207.0, 60.0))
NORTH_Y = 195.0  # the route's northern loop turns back here

# the underpass: a featureless tube through a railway embankment
TUNNEL_X = (60.0, 130.0)  # 70 m long
TUNNEL_Y, TUNNEL_HALF_W, TUNNEL_H = -60.0, 2.25, 3.0
EMBANKMENT = ((60.0, -HALF_SIZE_M), (130.0, 40.0))  # lo, hi xy
EMBANKMENT_H = 6.0

# the hall: three storeys, a corridor along x, a switchback stair, look-alike rooms stacked
HALL_ORIGIN = (-62.0, 45.0)  # its south-west corner; the plan below is in hall coordinates
HALL_SIZE = (44.0, 20.0)
HALL_STOREYS, STOREY_M = 3, 3.0
HALL_WALL_M = 0.3
CORRIDOR_Y = (8.5, 11.5)  # walls' centre lines
HALL_DOORS = {"south": (20.0, 0.0), "west": (0.0, 10.0), "east": (44.0, 10.0)}
EXTERIOR_DOOR_W, ROOM_DOOR_W, DOOR_H = 2.0, 1.8, 2.2
ROOM_X = (0.0, 14.0)  # the look-alike room south of the corridor, on every storey
ROOM_DOORS_X = (3.5, 11.0)
LOBBY_X = (32.0, 34.5)  # the stair lobby off the corridor
STAIR_X0, STAIR_Y0 = 34.5, 11.5  # flight 1 runs +x at y 11.5..13.5, flight 2 back at 13.7..15.7
TREAD_M, STEPS = 0.28, 8  # 8 steps and the landing or floor: 9 risers per half storey
RISE_M = STOREY_M / 18
RUN_M = STEPS * TREAD_M
FLIGHT_W, CORE_W, LANDING_M = 2.0, 0.2, 2.0

# the lab (one storey) and the glass pavilion
LAB_ORIGIN, LAB_SIZE, LAB_H = (-62.0, -85.0), (40.0, 30.0), 4.5
LAB_DOORS = {"north": (20.0, 30.0), "west": (0.0, 15.0)}
PAVILION_ORIGIN, PAVILION_SIZE, PAVILION_H = (-150.0, -7.0), (24.0, 14.0), 4.0
PAVILION_DOORS = {"west": (0.0, 7.0), "east": (24.0, 7.0)}

Point = tuple[float, float, float]


def hall_to_world(points) -> list[Point]:
    """Hall coordinates [(x, y, z), ...] -> world."""
    ox, oy = HALL_ORIGIN
    return [(ox + x, oy + y, z) for x, y, z in points]


def _local(origin, points) -> list[Point]:
    return [(origin[0] + x, origin[1] + y, z) for x, y, z in points]


def _flight_1(z0: float) -> list[Point]:
    """Step centres of flight 1 (up +x) from the storey at z0: the lane at y = STAIR_Y0 + 1."""
    i = np.arange(1, STEPS + 1)
    x = STAIR_X0 + (i - 0.5) * TREAD_M
    return [(float(a), STAIR_Y0 + 1.0, float(z0 + k * RISE_M)) for a, k in zip(x, i, strict=True)]


def _flight_2(z0: float) -> list[Point]:
    """Step centres of flight 2 (up -x, from the landing) of the storey at z0."""
    i = np.arange(1, STEPS + 1)
    x = STAIR_X0 + RUN_M - (i - 0.5) * TREAD_M
    z = z0 + STOREY_M / 2 + i * RISE_M
    return [(float(a), STAIR_Y0 + 3.2, float(c)) for a, c in zip(x, z, strict=True)]


def _landing(z0: float) -> list[Point]:
    x, z = STAIR_X0 + RUN_M + LANDING_M / 2, z0 + STOREY_M / 2
    return [(x, STAIR_Y0 + 1.0, z), (x, STAIR_Y0 + 3.2, z)]


def stairs_up(storey: int) -> list[Point]:
    """From the lobby of `storey` (hall coordinates) up to the lobby of the next."""
    z0 = storey * STOREY_M
    return (
        [(33.5, STAIR_Y0 + 1.0, z0)]
        + _flight_1(z0)
        + _landing(z0)
        + _flight_2(z0)
        + [(33.0, STAIR_Y0 + 3.2, z0 + STOREY_M)]
    )


def stairs_down(storey: int, lobby_x: float) -> list[Point]:
    """From the lobby of storey + 1 (entered at lobby_x) down to the lobby of `storey`."""
    z0 = storey * STOREY_M
    return (
        [(lobby_x, STAIR_Y0 + 3.2, z0 + STOREY_M)]
        + _flight_2(z0)[::-1]
        + _landing(z0)[::-1]
        + _flight_1(z0)[::-1]
        + [(33.0, STAIR_Y0 + 1.0, z0)]
    )


def _room_visit(z: float) -> list[Point]:
    """From the stairs west along the corridor, into the look-alike room by its east door, out
    by its west door and back east to the stairs (hall coordinates)."""
    east, west = ROOM_DOORS_X[1], ROOM_DOORS_X[0]
    return [
        (33.0, 10.5, z),
        (east, 10.5, z),
        (east, 5.5, z),
        (west, 5.5, z),
        (west, 9.5, z),
        (33.5, 9.5, z),
    ]


def _hall_first_visit() -> list[Point]:
    """In by the east door, up to both look-alike rooms, down, out by the south door."""
    pts: list[Point] = [(44.0, 10.0, 0.0), (33.5, 10.0, 0.0)]
    pts += stairs_up(0) + _room_visit(STOREY_M) + stairs_up(1) + _room_visit(2 * STOREY_M)
    pts += stairs_down(1, 33.5) + stairs_down(0, 33.0)
    pts += [(33.0, 9.5, 0.0), (20.0, 9.5, 0.0), (20.0, 0.0, 0.0)]
    return hall_to_world(pts)


def _hall_second_visit() -> list[Point]:
    """In by the west door, along the ground floor corridor, out by the south door."""
    return hall_to_world([(0.0, 10.0, 0.0), (20.0, 10.0, 0.0), (20.0, 0.0, 0.0)])


def route_waypoints() -> list[list[Point]]:
    """The route as runs of waypoints (world): outdoor runs and indoor runs alternate; each
    outdoor run starts and ends at a door (or at the start point), so paving can stop there."""
    lab = _local(LAB_ORIGIN, [(*LAB_DOORS["north"], 0.0), (20.0, 15.0, 0.0), (0.0, 15.0, 0.0)])
    pavilion = _local(PAVILION_ORIGIN, [(0.0, 7.0, 0.0), (24.0, 7.0, 0.0)])
    hall_1, hall_2 = _hall_first_visit(), _hall_second_visit()
    return [
        [(-80.0, -8.0, 0.0), (40.0, -8.0, 0.0), (40.0, -60.0, 0.0), (150.0, -60.0, 0.0),
         (150.0, -115.0, 0.0), (215.0, -115.0, 0.0), (215.0, 75.0, 0.0), (57.5, 75.0, 0.0),
         (57.5, NORTH_Y, 0.0), (127.5, NORTH_Y, 0.0), (127.5, 88.0, 0.0), (0.0, 88.0, 0.0),
         (0.0, 55.0, 0.0), hall_1[0]],
        hall_1,
        [hall_1[-1], (-42.0, 40.0, 0.0), lab[0]],
        lab,
        [lab[-1], (-100.0, -70.0, 0.0), (-100.0, 55.0, 0.0), hall_2[0]],
        hall_2,
        [hall_2[-1], (-42.0, 38.0, 0.0), (-170.0, 38.0, 0.0), (-170.0, 0.0, 0.0), pavilion[0]],
        pavilion,
        [pavilion[-1], (-110.0, 0.0, 0.0), (-110.0, -8.0, 0.0), (-80.0, -8.0, 0.0)],
    ]  # fmt: skip


def outdoor_runs() -> list[np.ndarray]:
    """The outdoor runs of the route, each [K, 3] (paving is laid along them)."""
    return [np.asarray(run) for run in route_waypoints()[0::2]]


def walk_path() -> np.ndarray:
    """The closed route [K, 3]: its waypoints, with points added so none is ROUTE_STEP_M apart."""
    pts = [p for run in route_waypoints() for p in run]
    xyz = np.asarray(pts, dtype=np.float64)  # [K, 3]
    keep = np.ones(len(xyz), dtype=bool)  # the runs share their ends: drop the repeats
    keep[1:] = np.linalg.norm(np.diff(xyz, axis=0), axis=1) > 1e-9
    xyz = xyz[keep]
    seg = np.diff(xyz, axis=0)  # [K-1, 3]
    n = np.maximum(1, np.ceil(np.linalg.norm(seg, axis=1) / ROUTE_STEP_M)).astype(int)
    idx = np.repeat(np.arange(len(seg)), n)  # [M] segment of each new point
    frac = (np.arange(len(idx)) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n, n)
    out = np.vstack([xyz[idx] + frac[:, None] * seg[idx], xyz[-1:]])  # [M + 1, 3]
    out[-1] = out[0]
    return out


def route_door_xy() -> np.ndarray:
    """[D, 2] the centres of the door gaps the route passes (paving stops at them)."""
    doors = [(HALL_ORIGIN, p) for p in HALL_DOORS.values()]
    doors += [(LAB_ORIGIN, p) for p in LAB_DOORS.values()]
    doors += [(PAVILION_ORIGIN, p) for p in PAVILION_DOORS.values()]
    return np.array([(o[0] + p[0], o[1] + p[1]) for o, p in doors])


# --- doors and markers --------------------------------------------------------------------------


def double_door(centre_xyz: Point, along_x: bool, width_m: float, inward_sign: float) -> list[Door]:
    """Two leaves filling a gap centred at centre_xyz in a wall along x (or y), hinged at the
    jambs, swinging 90 deg to the inward side (+1: towards +y, or +x for a wall along y)."""
    u = np.array([1.0, 0.0]) if along_x else np.array([0.0, 1.0])
    inward = np.array([0.0, inward_sign]) if along_x else np.array([inward_sign, 0.0])
    leaves = []
    for side in (-1.0, 1.0):
        hinge = np.asarray(centre_xyz[:2]) + side * u * width_m / 2
        d = -side * u  # the closed leaf points from its hinge to the gap's centre
        swing = np.pi / 2 if (-d[1] * inward[0] + d[0] * inward[1]) > 0 else -np.pi / 2
        leaves.append(
            Door(
                hinge_xyz_m=(float(hinge[0]), float(hinge[1]), float(centre_xyz[2])),
                width_m=width_m / 2,
                height_m=DOOR_H,
                closed_yaw_rad=float(np.arctan2(d[1], d[0])),
                swing_rad=float(swing),
            )
        )
    return leaves


def route_doors() -> tuple[Door, ...]:
    """The door leaves in the gaps the route passes through (the leaves are not in the mesh)."""
    out: list[Door] = []
    for name, (x, y) in HALL_DOORS.items():
        along_x = name == "south"
        inward = 1.0 if name in ("south", "west") else -1.0
        out += double_door(hall_to_world([(x, y, 0.0)])[0], along_x, EXTERIOR_DOOR_W, inward)
    for storey in (1, 2):
        for x in ROOM_DOORS_X:  # the look-alike rooms lie south of the corridor
            centre = hall_to_world([(x, CORRIDOR_Y[0], storey * STOREY_M)])[0]
            out += double_door(centre, True, ROOM_DOOR_W, -1.0)
    for origin, doors in ((LAB_ORIGIN, LAB_DOORS), (PAVILION_ORIGIN, PAVILION_DOORS)):
        for name, (x, y) in doors.items():
            along_x = name == "north"
            inward = {"north": -1.0, "west": 1.0, "east": -1.0}[name]
            out += double_door(
                (origin[0] + x, origin[1] + y, 0.0), along_x, EXTERIOR_DOOR_W, inward
            )
    return tuple(out)


def route_markers() -> tuple[Marker, ...]:
    """Surveyed points beside the route: targets on walls (1.6 m up) and nails in the paving."""
    t = HALL_WALL_M / 2
    hx, hy = HALL_ORIGIN
    lx, ly = LAB_ORIGIN
    walls = [
        (TUNNEL_X[0], TUNNEL_Y + TUNNEL_HALF_W + 3.0, 1.6),  # the underpass's west portal
        (TUNNEL_X[1], TUNNEL_Y - TUNNEL_HALF_W - 3.0, 1.6),  # its east portal
        (hx + HALL_SIZE[0] + t, hy + 12.5, 1.6),  # hall east facade, beside the door
        (hx + 26.0, hy + CORRIDOR_Y[1] - 0.06, 1.6),  # hall corridor, ground floor
        (hx + 26.0, hy + CORRIDOR_Y[1] - 0.06, STOREY_M + 1.6),  # first floor
        (hx + 7.0, hy + t, STOREY_M + 1.6),  # the look-alike room's south wall, first floor
        (hx + 26.0, hy + CORRIDOR_Y[1] - 0.06, 2 * STOREY_M + 1.6),  # second floor
        (hx + 7.0, hy + t, 2 * STOREY_M + 1.6),  # the look-alike room, second floor
        (hx + 22.5, hy - t, 1.6),  # hall south facade, beside the door
        (lx + 22.5, ly + LAB_SIZE[1] + t, 1.6),  # lab north facade
        (lx - t, ly + 12.5, 1.6),  # lab west facade
        (hx - t, hy + 7.5, 1.6),  # hall west facade
    ]
    nails = [
        (-60.0, -9.2, PLAZA_Z), (-20.0, -9.2, PLAZA_Z), (20.0, -9.2, PAVE_Z),
        (41.2, -40.0, PAVE_Z), (150.0 + 1.2, -90.0, PAVE_Z), (190.0, -116.2, PAVE_Z),
        (216.2, -20.0, PAVE_Z), (216.2, 60.0, PAVE_Z), (150.0, 76.2, PAVE_Z), (60.0, 76.2, PAVE_Z),
        (-43.2, 20.0, PLAZA_Z), (-101.2, -30.0, PAVE_Z), (-98.8, 30.0, PAVE_Z),
        (-130.0, 39.2, PAVE_Z), (-171.2, 20.0, PAVE_Z), (-95.0, -9.2, PAVE_Z),
    ]  # fmt: skip
    points = walls + nails
    return tuple(
        Marker(f"CP{i + 1:02d}", (float(x), float(y), float(z)))
        for i, (x, y, z) in enumerate(points)
    )
