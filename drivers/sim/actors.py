"""Things that move in the twin: people on the route, swinging doors, the operator's own body.

`Actors.cast(origins, dirs, t_s)` intersects each ray with every actor as it is at that ray's own
time, analytically (numba): the lidar keeps the nearer of this and the static mesh's hit.

People (realism.SceneDynamics.people): each walks the scene's walk path (free space by
construction) round and round, with its own seeded speed (1.0-1.5 m/s on the flat; slower in
tight turns and on stairs, as the path's pace says), direction (four in five keep to their
right, so the two streams pass side by side), start and lateral offset (0.6-1.0 m off the
centre line, less where walls, furniture or open doors are nearer: the path's side clearance
is ray cast once, at three heights). A person is an upright capsule (radius 0.20-0.25 m, up to
the neck) with a sphere for the head, 1.62-1.88 m tall; z follows the path, so they climb
stairs. They do not see the operator: a person within OPERATOR_KEEP_OUT_M (1.2 m, horizontally,
on the same floor) of the operator's position at a time is transparent then, so nobody walks
through the operator (they blink out when they pass by closely; the lidar's blind zone and the
operator's body hide most of that).

Doors (SceneDynamics.doors, Scene.doors): each leaf is a thin box hinged at its Door's hinge,
at yaw closed_yaw_rad + swing_rad * opening(t). opening(t) follows a seeded open/hold/close
cycle (period 8-30 s, smooth swings of 1-2.5 s, a peak of 0.6-1), and the door is held fully
open whenever the operator or a person is within DOOR_OPEN_NEAR_M (2 m) of the hinge (it
starts swinging open at DOOR_OPEN_FROM_M, 3.5 m): the leaf (1.8 m) never sweeps through
anybody walking through its gap.

The operator's body (LidarErrors.operator_body): the scanner (1.5 m up) is held at the chin;
in a levelled frame at the lidar that turns with the lidar's heading (the yaw of T_world_lidar),
the head (ellipsoid, semi-axes 0.10 x 0.08 x 0.12 m) is 0.30-0.35 m behind and its centre 0.10 m
above the lidar, the shoulders and torso (0.12 x 0.22 x 0.25 m) 0.40 m behind with their top
level with it; the body sways against the hand (two sines per axis, 0.3-1.2 Hz: 1-3 cm and 1-3
degrees each). With the Mid-360's field of view (-7 to +52 degrees) the head and the shoulders'
top take ~4.2 % of a sweep on a walk (a sector of about +-14 degrees straight behind, within
0.6 m), ~5 % with the aggressive swings: the near, moving blob real handheld data shows.

States are evaluated on a time grid spanning the rays' times (every GRID_DT_S, 10 ms) and
interpolated linearly for each ray: the error is a dt^2 / 8, under 0.3 mm for the operator's
body at 20 m/s^2 (its hand swings) and the doors' 1-second swings alike. Actors farther than
CULL_RADIUS_M (40 m) from the rays' origins are left out; the rays are sorted into direction
bins, each bin tried only against the actors in its cone, then each ray against an actor's
bounding sphere before the exact test. A 20,000-ray sweep with 15 people, 30 doors and the
body costs ~2.5 ms on one core (serial: no threads to fight the mesh's ray caster).

Not modelled: people pass through each other (overtaking, or the one in five walking on their
left meeting another); their capsules' feet dip ~0.15 m into the next step on stairs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba as nb
import numpy as np
import open3d as o3d
import open3d.core as o3c
from scipy.ndimage import gaussian_filter1d, minimum_filter1d

from drivers.sim.realism import SceneDynamics
from drivers.sim.scenes.primitives import box_mesh
from drivers.sim.scenes.scene import Scene
from drivers.sim.trajectory import Trajectory, rotation_zyx
from drivers.sim.walk_path import LoopPath

log = logging.getLogger(__name__)

NONE, PERSON, DOOR, OPERATOR = 0, 1, 2, 3  # ActorHits.kind

CULL_RADIUS_M = 40.0  # actors farther than this from every ray origin are not cast against
GRID_DT_S = 0.01  # actor states are sampled this often and interpolated per ray
T_MIN_M = 1e-6  # hits nearer than this along the ray are ignored

# people
PERSON_SPEED_MPS = (1.0, 1.5)
PERSON_LATERAL_M = (0.6, 1.0)  # nominal offset from the path's centre line
PERSON_RADIUS_M = (0.20, 0.25)
PERSON_HEIGHT_M = (1.62, 1.88)  # feet to the top of the head
HEAD_RADIUS_M = 0.11
NECK_M = 0.22  # the body capsule ends this far below the top of the head
KEEP_RIGHT = 0.8  # the share of people who walk on their right of the centre line
PERSON_CLEARANCE_M = 0.1  # a person keeps this much off walls, furniture and open doors
CLEARANCE_HEIGHTS_M = (0.3, 1.0, 1.6)  # the side clearance is measured at these heights
CLEARANCE_WINDOW_M = 2.0  # and taken as the least over this much of the path around a point
LATERAL_SMOOTHING_M = 0.4  # sideways moves are smoothed over this much path (sigma)
OPERATOR_KEEP_OUT_M = 1.2  # a person this near the operator (horizontally) is transparent
SAME_FLOOR_M = 1.5  # ... and only when on the same floor: feet within this in height
CLOTHES_ALBEDO = (0.15, 0.5)
SKIN_ALBEDO = 0.3  # skin and hair
DOOR_ALBEDO = (0.5, 0.7)

# doors
DOOR_PERIOD_S = (8.0, 30.0)
DOOR_SWING_S = (1.0, 2.5)  # each swing, open or shut, takes this long
DOOR_OPEN_SHARE = (0.15, 0.5)  # of the rest of the cycle, held open; the others stay shut
DOOR_PEAK = (0.6, 1.0)  # how far the cycle opens the door (1: by its full swing)
DOOR_OPEN_NEAR_M = 2.0  # fully open while the operator or a person is this near the hinge
DOOR_OPEN_FROM_M = 3.5  # and swinging open from this far

# the operator's body in the levelled frame at the lidar (x forward along its heading, z up)
HEAD_BEHIND_M = (0.30, 0.35)
HEAD_ABOVE_M = 0.10  # the scanner (1.5 m) is held at the chin: the head's centre above it
HEAD_SEMI_AXES_M = (0.10, 0.08, 0.12)
TORSO_CENTRE_M = (-0.40, 0.0, -0.30)  # the shoulders' top level with the lidar
TORSO_SEMI_AXES_M = (0.12, 0.22, 0.25)
SWAY_HZ = (0.3, 1.2)
SWAY_M = (0.005, 0.015)  # each of two sines per axis: 1-3 cm together
SWAY_DEG = (0.5, 1.5)  # each of two sines per axis: 1-3 degrees together


@dataclass(frozen=True)
class ActorHits:
    range_m: np.ndarray  # [N] float64, inf where no actor is hit
    normal_world: np.ndarray  # [N, 3] float64 unit, dot(normal, direction) <= 0; zero for misses
    albedo: np.ndarray  # [N] float32 grey reflectivity; 0 for misses
    kind: np.ndarray  # [N] uint8: NONE, PERSON, DOOR or OPERATOR

    @property
    def hit(self) -> np.ndarray:  # [N] bool
        return np.isfinite(self.range_m)


def _smoothstep(x: np.ndarray) -> np.ndarray:  # [...] -> [...]
    """Quintic 0 -> 1 ease: exactly 0 for x <= 0 and 1 for x >= 1."""
    x = np.clip(x, 0.0, 1.0)
    return x * x * x * (10.0 + x * (-15.0 + 6.0 * x))


def _sines(t_s: np.ndarray, freq: np.ndarray, amp: np.ndarray, phase: np.ndarray) -> np.ndarray:
    """t_s [G], freq / amp / phase [C, S] -> [G, C]: C channels, each a sum of S sines."""
    arg = 2.0 * np.pi * t_s[:, None, None] * freq[None] + phase[None]  # [G, C, S]
    return (np.sin(arg) * amp[None]).sum(axis=2)


@dataclass(frozen=True, eq=False)
class _People:
    s_m: np.ndarray  # [P + 1] arc length of the path samples
    effort_m: np.ndarray  # [M, P + 1] the effort (distance at the flat pace) along each one's
    # own line (its offset path) to each sample: slower in tight turns and on stairs
    table_m: np.ndarray  # [M, P + 1, 3] each person's feet at each path sample
    start: np.ndarray  # [M] where along the loop each is at t = 0, a share of the loop's effort
    velocity_mps: np.ndarray  # [M] signed: + with the path, - against it
    radius_m: np.ndarray  # [M]
    height_m: np.ndarray  # [M]
    albedo: np.ndarray  # [M] clothes

    def feet(self, t_s: np.ndarray) -> np.ndarray:  # [G] -> [G, M, 3]
        u = np.empty((len(t_s), len(self.radius_m)))
        for j, effort in enumerate(self.effort_m):  # a handful of people
            e = np.mod(self.start[j] * effort[-1] + self.velocity_mps[j] * t_s, effort[-1])
            u[:, j] = np.interp(e, effort, self.s_m) / self.s_m[1]
        k = np.clip(np.floor(u).astype(np.int64), 0, len(self.s_m) - 2)
        w = (u - k)[..., None]
        m = np.arange(len(self.radius_m))[None]
        return (1.0 - w) * self.table_m[m, k] + w * self.table_m[m, k + 1]


@dataclass(frozen=True, eq=False)
class _Doors:
    hinge_m: np.ndarray  # [D, 3]
    size_m: np.ndarray  # [D, 3] width (along the leaf), thickness, height
    closed_rad: np.ndarray  # [D]
    swing_rad: np.ndarray  # [D]
    period_s: np.ndarray  # [D]
    phase_s: np.ndarray  # [D]
    swing_s: np.ndarray  # [D]
    open_s: np.ndarray  # [D]
    peak: np.ndarray  # [D]
    albedo: np.ndarray  # [D]

    def cycle(self, t_s: np.ndarray) -> np.ndarray:  # [G] -> [G, D] in [0, 1]
        u = np.mod(t_s[:, None] + self.phase_s[None], self.period_s[None])
        up = _smoothstep(u / self.swing_s)
        down = _smoothstep((u - self.swing_s - self.open_s) / self.swing_s)
        return self.peak * (up - down)

    def near(self, floor_xyz: np.ndarray) -> np.ndarray:  # [G, K, 3] -> [G, D] in [0, 1]
        """How far walkers (their floor points) near a hinge hold its door open."""
        d = floor_xyz[:, :, None, :] - self.hinge_m[None, None]  # [G, K, D, 3]
        dist = np.hypot(d[..., 0], d[..., 1])
        dist = np.where(np.abs(d[..., 2]) < SAME_FLOOR_M, dist, np.inf)  # [G, K, D]
        if dist.shape[1] == 0:
            return np.zeros((len(floor_xyz), len(self.hinge_m)))
        ramp = (DOOR_OPEN_FROM_M - dist.min(axis=1)) / (DOOR_OPEN_FROM_M - DOOR_OPEN_NEAR_M)
        return _smoothstep(ramp)


@dataclass(frozen=True, eq=False)
class _Operator:
    head_m: np.ndarray  # [3] head centre in the levelled frame
    freq_hz: np.ndarray  # [6, 2] sway: x y z (m), yaw pitch roll (rad); two sines each
    amp: np.ndarray  # [6, 2]
    phase_rad: np.ndarray  # [6, 2]
    albedo: np.ndarray  # [2] head, torso

    def ellipsoids(self, T_world_lidar: np.ndarray, t_s: np.ndarray):
        """[G, 4, 4], [G] -> (centres [G, 2, 3] world: head, torso; axes [G, 2, 3, 3])."""
        R = T_world_lidar[:, :3, :3]
        heading = np.arctan2(R[:, 1, 0], R[:, 0, 0])  # [G]
        sway = _sines(t_s, self.freq_hz, self.amp, self.phase_rad)  # [G, 6]
        zeros = np.zeros_like(heading)
        R_level = rotation_zyx(np.stack([heading, zeros, zeros], axis=1))  # [G, 3, 3]
        R_body = rotation_zyx(sway[:, 3:] + np.stack([heading, zeros, zeros], axis=1))
        nominal = np.stack([self.head_m, np.asarray(TORSO_CENTRE_M)])  # [2, 3]
        centres = (
            T_world_lidar[:, None, :3, 3]
            + np.einsum("gij,gj->gi", R_level, sway[:, :3])[:, None]
            + np.einsum("gij,ej->gei", R_body, nominal)
        )  # [G, 2, 3]
        return centres, np.repeat(R_body[:, None], 2, axis=1)


class Actors:
    """The moving things of one twin session; see the module's docstring for the models."""

    def __init__(
        self,
        scene: Scene,
        trajectory: Trajectory,
        dynamics: SceneDynamics,
        operator_body: bool,
        seed: int,
    ) -> None:
        self.scene, self.trajectory = scene, trajectory
        self.doors = _make_doors(scene, seed) if dynamics.doors and scene.doors else None
        self.people = _make_people(scene, dynamics.people, self.doors, seed)
        self.operator = _make_operator(seed) if operator_body else None
        # the lidar's height above the walk's floor (the start): where the operator's feet are
        self._sensor_height_m = float(
            trajectory.position(np.zeros(1))[0, 2] - scene.walk_path[0, 2]
        )
        self._semi = np.array([HEAD_SEMI_AXES_M, TORSO_SEMI_AXES_M], dtype=np.float64)  # [2, 3]

    @property
    def is_empty(self) -> bool:
        return self.people is None and self.doors is None and self.operator is None

    # --- the actors' states at times ------------------------------------------------------------
    def people_feet(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """t_s [N] -> (feet [N, M, 3] world, visible [N, M] bool: not next to the operator)."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if self.people is None:
            return np.zeros((len(t), 0, 3)), np.zeros((len(t), 0), dtype=bool)
        feet = self.people.feet(t)
        return feet, self._visible(feet, self.trajectory.position(t))

    def door_opening(self, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, D] in [0, 1]
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if self.doors is None:
            return np.zeros((len(t), 0))
        feet = self.people.feet(t) if self.people is not None else np.zeros((len(t), 0, 3))
        return self._opening(t, self.trajectory.position(t), feet)

    def operator_ellipsoids(self, t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """t_s [N] -> (head and torso centres [N, 2, 3] world, their axes [N, 2, 3, 3])."""
        t = np.atleast_1d(np.asarray(t_s, dtype=np.float64))
        if self.operator is None:
            return np.zeros((len(t), 0, 3)), np.zeros((len(t), 0, 3, 3))
        return self.operator.ellipsoids(self.trajectory.pose(t), t)

    def _visible(self, feet: np.ndarray, lidar_xyz: np.ndarray) -> np.ndarray:
        """feet [G, M, 3], lidar_xyz [G, 3] -> [G, M] bool: not within the operator's keep-out."""
        d = feet - lidar_xyz[:, None]
        floor_dz = d[..., 2] + self._sensor_height_m
        return (np.hypot(d[..., 0], d[..., 1]) >= OPERATOR_KEEP_OUT_M) | (
            np.abs(floor_dz) >= SAME_FLOOR_M
        )

    def _opening(self, t_s: np.ndarray, lidar_xyz: np.ndarray, feet: np.ndarray) -> np.ndarray:
        """[G], [G, 3], [G, M, 3] -> [G, D]: the cycle, held open for anybody near the hinge."""
        operator_floor = lidar_xyz - [0.0, 0.0, self._sensor_height_m]
        walkers = np.concatenate([operator_floor[:, None], feet], axis=1)  # [G, 1 + M, 3]
        return np.maximum(self.doors.cycle(t_s), self.doors.near(walkers))

    # --- casting ---------------------------------------------------------------------------------
    def cast(
        self,
        origins: np.ndarray,  # [N, 3] world
        dirs: np.ndarray,  # [N, 3] unit, world
        t_s: np.ndarray,  # [N] each ray's time (the trajectory's clock)
    ) -> ActorHits:
        """Each ray against every actor as it is at the ray's own time (within the
        trajectory's valid_s) -> the nearest actor hit."""
        o = np.ascontiguousarray(origins, dtype=np.float64).reshape(-1, 3)
        d = np.ascontiguousarray(dirs, dtype=np.float64).reshape(-1, 3)
        t = np.ascontiguousarray(t_s, dtype=np.float64).reshape(-1)
        n = len(d)
        if len(o) != n or len(t) != n:
            raise ValueError(f"{len(o)} origins, {n} directions and {len(t)} times")
        out = ActorHits(
            np.full(n, np.inf), np.zeros((n, 3)), np.zeros(n, dtype=np.float32),
            np.zeros(n, dtype=np.uint8),
        )  # fmt: skip
        if n == 0 or self.is_empty:
            return out
        tg, k, w = _time_grid(t)
        T = self.trajectory.pose(tg)  # [G, 4, 4]
        lidar_xyz = T[:, :3, 3]
        rays, lo, hi = _pack_rays(o, d)  # [6, N], the origins' box [3], [3]
        centre = 0.5 * (lo + hi)
        spread = 0.5 * float(np.linalg.norm(hi - lo))  # every origin is within this of centre
        reach = CULL_RADIUS_M + spread  # actors farther than this from centre are left out
        g = len(tg)

        p = self.people
        feet = p.feet(tg) if p is not None else np.zeros((g, 0, 3))  # [G, M, 3]
        if p is not None:
            visible = self._visible(feet, lidar_xyz)  # [G, M]
            mid = feet.copy()
            mid[..., 2] += p.height_m / 2
            p_sphere = _bounding_spheres(mid, np.hypot(p.height_m / 2, p.radius_m))  # [M, 4]
            keep = _near(p_sphere, centre, reach) & visible.any(axis=0)
            people_args = (
                np.ascontiguousarray(feet[:, keep]), visible[:, keep].astype(np.uint8),
                p.radius_m[keep], p.height_m[keep], p.albedo[keep], p_sphere[keep],
            )  # fmt: skip
        else:
            people_args = (
                np.zeros((g, 0, 3)), np.zeros((g, 0), dtype=np.uint8), np.zeros(0), np.zeros(0),
                np.zeros(0), np.zeros((0, 4)),
            )  # fmt: skip

        if self.doors is not None:
            dr = self.doors
            yaw = dr.closed_rad + dr.swing_rad * self._opening(tg, lidar_xyz, feet)  # [G, D]
            cs = np.stack([np.cos(yaw), np.sin(yaw)], axis=2)  # [G, D, 2]
            leaf_mid = dr.hinge_m + 0.5 * np.stack(
                [cs[..., 0] * dr.size_m[:, 0], cs[..., 1] * dr.size_m[:, 0],
                 np.broadcast_to(dr.size_m[:, 2], yaw.shape)], axis=2,
            )  # fmt: skip  # [G, D, 3]
            d_sphere = _bounding_spheres(leaf_mid, 0.5 * np.linalg.norm(dr.size_m, axis=1))
            keep = _near(d_sphere, centre, reach)
            door_args = (
                dr.hinge_m[keep], np.ascontiguousarray(cs[:, keep]), dr.size_m[keep],
                dr.albedo[keep], d_sphere[keep],
            )  # fmt: skip
        else:
            door_args = (
                np.zeros((0, 3)), np.zeros((g, 0, 2)), np.zeros((0, 3)), np.zeros(0),
                np.zeros((0, 4)),
            )  # fmt: skip

        if self.operator is not None:
            centres, axes = self.operator.ellipsoids(T, tg)  # [G, 2, 3], [G, 2, 3, 3]
            e_sphere = _bounding_spheres(centres, self._semi.max(axis=1))
            ell_args = (centres, axes, self._semi, self.operator.albedo, e_sphere)
        else:
            ell_args = (
                np.zeros((g, 0, 3)), np.zeros((g, 0, 3, 3)), np.zeros((0, 3)), np.zeros(0),
                np.zeros((0, 4)),
            )  # fmt: skip

        actor_args = [np.ascontiguousarray(a) for a in (*people_args, *door_args, *ell_args)]
        _cast_kernel(
            rays, k, w, centre, spread, *actor_args,
            out.range_m, out.normal_world, out.albedo, out.kind,
        )  # fmt: skip
        return out


def make_actors(
    scene: Scene,
    trajectory: Trajectory,
    dynamics: SceneDynamics,
    operator_body: bool,
    seed: int,
) -> Actors | None:
    """The session's actors, or None when nothing moves (the ideal profile pays nothing)."""
    actors = Actors(scene, trajectory, dynamics, operator_body, seed)
    return None if actors.is_empty else actors


# --- building the actors ----------------------------------------------------------------------


def _make_doors(scene: Scene, seed: int) -> _Doors:
    rng = np.random.default_rng([seed, 0xAC7025, 2])
    n = len(scene.doors)
    period = rng.uniform(*DOOR_PERIOD_S, n)
    swing = rng.uniform(*DOOR_SWING_S, n)
    return _Doors(
        hinge_m=np.array([d.hinge_xyz_m for d in scene.doors], dtype=np.float64),
        size_m=np.array(
            [(d.width_m, d.thickness_m, d.height_m) for d in scene.doors], dtype=np.float64
        ),
        closed_rad=np.array([d.closed_yaw_rad for d in scene.doors], dtype=np.float64),
        swing_rad=np.array([d.swing_rad for d in scene.doors], dtype=np.float64),
        period_s=period,
        phase_s=rng.uniform(0.0, 1.0, n) * period,
        swing_s=swing,
        open_s=rng.uniform(*DOOR_OPEN_SHARE, n) * (period - 2.0 * swing),
        peak=rng.uniform(*DOOR_PEAK, n),
        albedo=rng.uniform(*DOOR_ALBEDO, n),
    )


def _make_people(scene: Scene, count: int, doors: _Doors | None, seed: int) -> _People | None:
    if count <= 0:
        return None
    rng = np.random.default_rng([seed, 0xAC7025, 1])
    path = LoopPath.build(scene.walk_path, 1.0)
    ring = path.xyz_m[:-1]  # [P, 3]
    yaw = path.yaw_rad[:-1]
    left = np.column_stack([-np.sin(yaw), np.cos(yaw), np.zeros(len(yaw))])  # [P, 3]
    free = _side_clearance(scene, doors, ring, left)  # [P, 2] left, right
    step = path.s_m[1]
    window = max(int(round(CLEARANCE_WINDOW_M / step)) | 1, 3)
    free = minimum_filter1d(free - PERSON_CLEARANCE_M, window, axis=0, mode="wrap")

    direction = np.where(np.arange(count) % 2 == 0, 1.0, -1.0)
    direction = rng.permutation(direction)  # half with the operator, half against
    speed = rng.uniform(*PERSON_SPEED_MPS, count)
    start = rng.uniform(0.0, 1.0, count)
    right = rng.random(count) < KEEP_RIGHT
    side = np.where(right, -direction, direction)  # + is the path's left
    nominal = rng.uniform(*PERSON_LATERAL_M, count)
    radius = rng.uniform(*PERSON_RADIUS_M, count)
    height = rng.uniform(*PERSON_HEIGHT_M, count)
    albedo = rng.uniform(*CLOTHES_ALBEDO, count)

    room = free[:, np.where(side > 0, 0, 1)].T  # [M, P] the free space on each one's side
    lateral = side[:, None] * np.clip(np.minimum(nominal[:, None], room - radius[:, None]), 0, None)
    offset = lateral[..., None] * left[None, :, :2]  # [M, P, 2]
    offset = gaussian_filter1d(offset, LATERAL_SMOOTHING_M / step, axis=1, mode="wrap")
    table = np.repeat(ring[None], count, axis=0)
    table[..., :2] += offset
    table = np.concatenate([table, table[:, :1]], axis=1)  # [M, P + 1, 3]
    own_ds = np.linalg.norm(np.diff(table, axis=1), axis=2)  # [M, P]: outside a turn, longer
    pace = 0.5 * (path.pace[1:] + path.pace[:-1])  # [P]
    effort = np.concatenate([np.zeros((count, 1)), np.cumsum(own_ds / pace, axis=1)], axis=1)
    log.debug("%d people on a %.1f m loop", count, path.length_m)
    return _People(path.s_m, effort, table, start, direction * speed, radius, height, albedo)


def _side_clearance(
    scene: Scene,
    doors: _Doors | None,
    ring: np.ndarray,  # [P, 3] path floor points
    left: np.ndarray,  # [P, 3] unit horizontal left normals
) -> np.ndarray:  # [P, 2] free distance to the left and right, m
    """Ray cast sideways from the path at a few heights into the mesh and the open doors."""
    vertices, triangles = [scene.vertices], [scene.triangles.astype(np.int64)]
    if doors is not None:
        for hinge, size, yaw in zip(
            doors.hinge_m, doors.size_m, doors.closed_rad + doors.swing_rad, strict=True
        ):
            v, f = box_mesh((0.0, -size[1] / 2, 0.0), (size[0], size[1] / 2, size[2]), yaw, hinge)
            triangles.append(f + sum(len(x) for x in vertices))
            vertices.append(v)
    rays_scene = o3d.t.geometry.RaycastingScene()
    rays_scene.add_triangles(
        o3c.Tensor(np.concatenate(vertices).astype(np.float32)),
        o3c.Tensor(np.concatenate(triangles).astype(np.uint32)),
    )
    out = np.full((len(ring), 2), np.inf)
    for h in CLEARANCE_HEIGHTS_M:
        for j, sign in enumerate((1.0, -1.0)):
            rays = np.hstack([ring + [0.0, 0.0, h], sign * left]).astype(np.float32)  # [P, 6]
            hit = rays_scene.cast_rays(o3c.Tensor(rays))["t_hit"].numpy()
            out[:, j] = np.minimum(out[:, j], hit)
    return np.minimum(out, 10.0)


def _make_operator(seed: int) -> _Operator:
    rng = np.random.default_rng([seed, 0xAC7025, 3])
    head = np.array([-rng.uniform(*HEAD_BEHIND_M), 0.0, HEAD_ABOVE_M])
    amp = np.vstack(
        [rng.uniform(*SWAY_M, (3, 2)), np.deg2rad(rng.uniform(*SWAY_DEG, (3, 2)))]
    )  # [6, 2]
    return _Operator(
        head_m=head,
        freq_hz=rng.uniform(*SWAY_HZ, (6, 2)),
        amp=amp,
        phase_rad=rng.uniform(0.0, 2.0 * np.pi, (6, 2)),
        albedo=np.array([SKIN_ALBEDO, rng.uniform(*CLOTHES_ALBEDO)]),
    )


# --- casting helpers --------------------------------------------------------------------------


def _time_grid(t_s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """t_s [N] -> (grid [G >= 2] sorted, k [N] int64, w [N]): t = (1 - w) grid[k] + w grid[k+1].

    A uniform grid every GRID_DT_S over the rays' span (a sweep: ~100 samples), or the rays'
    own distinct times when the grid would be longer than the rays (a few rays far apart)."""
    lo, hi = float(t_s.min()), float(t_s.max())
    n_uniform = int(np.ceil((hi - lo) / GRID_DT_S)) + 1
    if n_uniform <= max(len(t_s), 256):
        g = max(n_uniform, 2)
        grid = np.linspace(lo, hi, g)
        k, w = np.empty(len(t_s), dtype=np.int64), np.empty(len(t_s))
        _uniform_index(t_s, lo, grid[1] - grid[0], g, k, w)
        return grid, k, w
    distinct = np.unique(t_s)
    k = np.clip(np.searchsorted(distinct, t_s, side="right") - 1, 0, len(distinct) - 2)
    w = (t_s - distinct[k]) / (distinct[k + 1] - distinct[k])
    return distinct, k, np.clip(w, 0.0, 1.0)


@nb.njit(cache=True)
def _uniform_index(
    t_s: np.ndarray,  # [N]
    lo: float,
    step: float,
    g: int,
    k: np.ndarray,  # [N] int64, written
    w: np.ndarray,  # [N], written
) -> None:
    """Each time's place on the uniform grid lo + step * (0 .. g - 1)."""
    for i in range(len(t_s)):
        u = (t_s[i] - lo) / step if step > 0.0 else 0.0
        j = min(max(int(np.floor(u)), 0), g - 2)
        k[i], w[i] = j, min(max(u - j, 0.0), 1.0)


@nb.njit(cache=True)
def _pack_rays(
    origins: np.ndarray,  # [N, 3]
    dirs: np.ndarray,  # [N, 3]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """-> (rays [6, N]: origins then directions, a row per coordinate; the origins' box lo [3],
    hi [3])."""
    n = len(origins)
    rays = np.empty((6, n))
    lo, hi = origins[0].copy(), origins[0].copy()
    for i in range(n):
        for j in range(3):
            rays[j, i], rays[3 + j, i] = origins[i, j], dirs[i, j]
            lo[j] = min(lo[j], origins[i, j])
            hi[j] = max(hi[j], origins[i, j])
    return rays, lo, hi


def _bounding_spheres(centres: np.ndarray, radius: np.ndarray) -> np.ndarray:
    """centres [G, A, C] over time (C = 3, or 2 in plan), radius [A] of each actor -> [A, C + 1]
    one sphere (centre, r) holding each actor over the whole grid."""
    mid = 0.5 * (centres.max(axis=0) + centres.min(axis=0))  # [A, 3]
    spread = np.linalg.norm(centres - mid[None], axis=2).max(axis=0)  # [A]
    return np.column_stack([mid, spread + radius])


def _near(sphere: np.ndarray, centre: np.ndarray, reach: float) -> np.ndarray:  # [A, 4] -> [A]
    return np.linalg.norm(sphere[:, :3] - centre, axis=1) - sphere[:, 3] <= reach


@nb.njit(cache=True, inline="always")
def _sphere_t(ox, oy, oz, dx, dy, dz, cx, cy, cz, r):
    """The ray's entry into a sphere (inf for none, or for an origin inside)."""
    lx, ly, lz = ox - cx, oy - cy, oz - cz
    b = lx * dx + ly * dy + lz * dz
    c = lx * lx + ly * ly + lz * lz - r * r
    disc = b * b - c
    if disc < 0.0 or c < 0.0:
        return np.inf
    t = -b - np.sqrt(disc)
    return t if t > T_MIN_M else np.inf


@nb.njit(cache=True, inline="always")
def _slab(p0, v, lo, hi, t_near, t_far, axis, sign, ax):
    """One axis of the ray-box slab test: the origin's and direction's coordinate p0, v on the
    axis ax, the box's lo..hi -> the updated (t_near, t_far, entry axis, entry normal sign)."""
    if abs(v) < 1e-12:
        if p0 < lo or p0 > hi:
            return np.inf, -np.inf, axis, sign
        return t_near, t_far, axis, sign
    t1, t2 = (lo - p0) / v, (hi - p0) / v
    if t1 > t2:
        t1, t2 = t2, t1
    if t1 > t_near:
        t_near, axis, sign = t1, ax, -1.0 if v > 0.0 else 1.0
    return t_near, min(t_far, t2), axis, sign


@nb.njit(cache=True)
def _person_t(ox, oy, oz, dx, dy, dz, cx, cy, foot, r, height, best):
    """A vertical capsule (feet to neck) and a head sphere -> (t, nx, ny, nz, part): the
    nearest entry before best (t = best, part -1 for none; part 2 is the head)."""
    nx, ny, nz, part = 0.0, 0.0, 0.0, -1
    za, zb = foot + r, foot + height - NECK_M - r
    lx, ly = ox - cx, oy - cy
    a = dx * dx + dy * dy
    if a > 1e-12:
        b = lx * dx + ly * dy
        disc = b * b - a * (lx * lx + ly * ly - r * r)
        if disc >= 0.0:
            t = (-b - np.sqrt(disc)) / a
            z = oz + t * dz
            if T_MIN_M < t < best and za <= z <= zb:
                best, part = t, 0
                nx, ny, nz = (lx + t * dx) / r, (ly + t * dy) / r, 0.0
    for end in range(3):  # the capsule's ends, the head
        cz, rr = (
            (za, r)
            if end == 0
            else (zb, r)
            if end == 1
            else (foot + height - HEAD_RADIUS_M, HEAD_RADIUS_M)
        )
        t = _sphere_t(ox, oy, oz, dx, dy, dz, cx, cy, cz, rr)
        if t < best:
            best, part = t, 0 if end < 2 else 2
            nx, ny, nz = (lx + t * dx) / rr, (ly + t * dy) / rr, (oz + t * dz - cz) / rr
    return best, nx, ny, nz, part


@nb.njit(cache=True)
def _door_t(rx, ry, rz, dx, dy, dz, c, s, width, thickness, height, best):
    """A leaf turned by (c, s) = (cos, sin) yaw about its hinge, the ray's origin relative to
    the hinge -> (t, nx, ny, nz, hit): slab test in the leaf's frame (x along the leaf from the
    hinge, y across, z up)."""
    half = 0.5 * thickness
    t_near, t_far, axis, sign = _slab(
        c * rx + s * ry, c * dx + s * dy, 0.0, width, -np.inf, np.inf, -1, 0.0, 0
    )
    t_near, t_far, axis, sign = _slab(
        -s * rx + c * ry, -s * dx + c * dy, -half, half, t_near, t_far, axis, sign, 1
    )
    t_near, t_far, axis, sign = _slab(rz, dz, 0.0, height, t_near, t_far, axis, sign, 2)
    if axis < 0 or t_near > t_far or not (T_MIN_M < t_near < best):
        return best, 0.0, 0.0, 0.0, False
    nlx = sign if axis == 0 else 0.0
    nly = sign if axis == 1 else 0.0
    return t_near, c * nlx - s * nly, s * nlx + c * nly, sign if axis == 2 else 0.0, True


@nb.njit(cache=True)
def _ellipsoid_t(relx, rely, relz, dx, dy, dz, Ra, Rb, wa, wb, s0, s1, s2, best):
    """An ellipsoid with axes wa Ra + wb Rb ([3, 3] world <- local) and semi-axes s0..s2, the
    ray's origin relative to its centre -> (t, nx, ny, nz, hit)."""
    r00, r01, r02 = (
        wa * Ra[0, 0] + wb * Rb[0, 0],
        wa * Ra[0, 1] + wb * Rb[0, 1],
        wa * Ra[0, 2] + wb * Rb[0, 2],
    )
    r10, r11, r12 = (
        wa * Ra[1, 0] + wb * Rb[1, 0],
        wa * Ra[1, 1] + wb * Rb[1, 1],
        wa * Ra[1, 2] + wb * Rb[1, 2],
    )
    r20, r21, r22 = (
        wa * Ra[2, 0] + wb * Rb[2, 0],
        wa * Ra[2, 1] + wb * Rb[2, 1],
        wa * Ra[2, 2] + wb * Rb[2, 2],
    )
    q0 = (r00 * relx + r10 * rely + r20 * relz) / s0  # R^T rel / semi
    q1 = (r01 * relx + r11 * rely + r21 * relz) / s1
    q2 = (r02 * relx + r12 * rely + r22 * relz) / s2
    e0 = (r00 * dx + r10 * dy + r20 * dz) / s0
    e1 = (r01 * dx + r11 * dy + r21 * dz) / s1
    e2 = (r02 * dx + r12 * dy + r22 * dz) / s2
    qq = q0 * q0 + q1 * q1 + q2 * q2
    ee = e0 * e0 + e1 * e1 + e2 * e2
    qe = q0 * e0 + q1 * e1 + q2 * e2
    disc = qe * qe - ee * (qq - 1.0)
    if disc < 0.0 or qq < 1.0:
        return best, 0.0, 0.0, 0.0, False
    t = (-qe - np.sqrt(disc)) / ee
    if not (T_MIN_M < t < best):
        return best, 0.0, 0.0, 0.0, False
    g0, g1, g2 = (q0 + t * e0) / s0, (q1 + t * e1) / s1, (q2 + t * e2) / s2
    return (
        t,
        r00 * g0 + r01 * g1 + r02 * g2,  # R (p_local / semi^2)
        r10 * g0 + r11 * g1 + r12 * g2,
        r20 * g0 + r21 * g1 + r22 * g2,
        True,
    )


DIR_BINS = 6  # rays are sorted into 6 x DIR_BINS^2 direction bins (cube-map faces)


@nb.njit(cache=True)
def _bin_rays(
    rays: np.ndarray,  # [6, N] origins and unit directions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Sort the rays by direction into cube-map bins -> (order [N]: the rays bin by bin,
    start [B + 1]: each bin's first place in order, axis [B, 3] unit: each bin's mean
    direction, cos_half [B]: the cosine of the widest angle of a ray in it from the axis)."""
    n, s = rays.shape[1], DIR_BINS
    n_bins = 6 * s * s
    bin_of = np.empty(n, dtype=np.int64)
    for i in range(n):
        x, y, z = rays[3, i], rays[4, i], rays[5, i]
        ax, ay, az = abs(x), abs(y), abs(z)
        if ax >= ay and ax >= az:
            face, u, v, m = 0 if x > 0 else 1, y, z, ax
        elif ay >= az:
            face, u, v, m = 2 if y > 0 else 3, x, z, ay
        else:
            face, u, v, m = 4 if z > 0 else 5, x, y, az
        iu = min(int((u / m + 1.0) * 0.5 * s), s - 1)
        iv = min(int((v / m + 1.0) * 0.5 * s), s - 1)
        bin_of[i] = (face * s + iu) * s + iv
    start = np.zeros(n_bins + 1, dtype=np.int64)
    for i in range(n):
        start[bin_of[i] + 1] += 1
    for b in range(n_bins):
        start[b + 1] += start[b]
    fill = start[:-1].copy()
    order = np.empty(n, dtype=np.int64)
    axis = np.zeros((n_bins, 3))
    for i in range(n):
        b = bin_of[i]
        order[fill[b]] = i
        fill[b] += 1
        for c in range(3):
            axis[b, c] += rays[3 + c, i]
    cos_half = np.ones(n_bins)
    for b in range(n_bins):
        norm = np.sqrt(axis[b, 0] ** 2 + axis[b, 1] ** 2 + axis[b, 2] ** 2)
        if norm > 0.0:
            for c in range(3):
                axis[b, c] /= norm
        for q in range(start[b], start[b + 1]):
            i = order[q]
            dot = axis[b, 0] * rays[3, i] + axis[b, 1] * rays[4, i] + axis[b, 2] * rays[5, i]
            cos_half[b] = min(cos_half[b], dot)
    return order, start, axis, cos_half


@nb.njit(cache=True, inline="always")
def _in_cone(axis, cos_half, apex, spread, sphere) -> bool:
    """Can a ray from within `spread` of apex, at most acos(cos_half) off axis, meet the
    sphere (centre, r)? Is the sphere's angular radius plus the cone's reaching it."""
    vx, vy, vz = sphere[0] - apex[0], sphere[1] - apex[1], sphere[2] - apex[2]
    dist = np.sqrt(vx * vx + vy * vy + vz * vz)
    r = sphere[3] + spread
    if dist <= r:
        return True
    sin_b = r / dist
    cos_b = np.sqrt(1.0 - sin_b * sin_b)
    sin_h = np.sqrt(max(1.0 - cos_half * cos_half, 0.0))
    cos_angle = (axis[0] * vx + axis[1] * vy + axis[2] * vz) / dist
    return cos_angle >= cos_half * cos_b - sin_h * sin_b  # angle <= half + beta


@nb.njit(cache=True, inline="always")
def _may_hit(rays, i, sphere) -> bool:
    """Does ray i's line pass the sphere (centre, r) in front of its origin (or start in it)?"""
    lx, ly, lz = sphere[0] - rays[0, i], sphere[1] - rays[1, i], sphere[2] - rays[2, i]
    b = lx * rays[3, i] + ly * rays[4, i] + lz * rays[5, i]
    ll = lx * lx + ly * ly + lz * lz
    r2 = sphere[3] * sphere[3]
    return ll - b * b <= r2 and (b >= 0.0 or ll <= r2)


@nb.njit(cache=True)  # serial: ~1.5 ms a sweep, and no threads to fight the ray caster's
def _cast_kernel(
    rays, k, w, apex, spread,  # [6, N] origins and directions, [N] int64, [N], [3], float
    p_feet, p_vis, p_radius, p_height, p_albedo, p_sphere,  # [G, M, 3], [G, M], [M] x3, [M, 4]
    d_hinge, d_cs, d_size, d_albedo, d_sphere,  # [D, 3], [G, D, 2], [D, 3], [D], [D, 4]
    e_centre, e_axes, e_semi, e_albedo, e_sphere,  # [G, E, 3], [G, E, 3, 3], [E, 3], [E], [E, 4]
    range_m, normal, albedo, kind,  # [N] inf, [N, 3], [N] float32, [N] uint8: written
):  # fmt: skip
    """The rays' origins lie within spread of apex. Rays are taken by direction bin, and each
    bin only against the actors in its cone; then each ray against the actor's bounding sphere,
    then exactly."""
    order, start, axis, cos_half = _bin_rays(rays)
    for b in range(len(start) - 1):
        if start[b] == start[b + 1]:
            continue

        for j in range(len(p_radius)):  # people
            if not _in_cone(axis[b], cos_half[b], apex, spread, p_sphere[j]):
                continue
            for q in range(start[b], start[b + 1]):
                i = order[q]
                if not _may_hit(rays, i, p_sphere[j]):
                    continue
                ka, wb = k[i], w[i]
                kb, wa = ka + 1, 1.0 - wb
                if p_vis[kb if wb >= 0.5 else ka, j] == 0:
                    continue
                t, nx, ny, nz, part = _person_t(
                    rays[0, i], rays[1, i], rays[2, i], rays[3, i], rays[4, i], rays[5, i],
                    wa * p_feet[ka, j, 0] + wb * p_feet[kb, j, 0],
                    wa * p_feet[ka, j, 1] + wb * p_feet[kb, j, 1],
                    wa * p_feet[ka, j, 2] + wb * p_feet[kb, j, 2],
                    p_radius[j], p_height[j], range_m[i],
                )  # fmt: skip
                if part >= 0:
                    range_m[i], normal[i, 0], normal[i, 1], normal[i, 2] = t, nx, ny, nz
                    albedo[i] = SKIN_ALBEDO if part == 2 else p_albedo[j]
                    kind[i] = PERSON

        for j in range(len(d_albedo)):  # doors
            if not _in_cone(axis[b], cos_half[b], apex, spread, d_sphere[j]):
                continue
            for q in range(start[b], start[b + 1]):
                i = order[q]
                if not _may_hit(rays, i, d_sphere[j]):
                    continue
                ka, wb = k[i], w[i]
                kb, wa = ka + 1, 1.0 - wb
                t, nx, ny, nz, hit = _door_t(
                    rays[0, i] - d_hinge[j, 0], rays[1, i] - d_hinge[j, 1],
                    rays[2, i] - d_hinge[j, 2], rays[3, i], rays[4, i], rays[5, i],
                    wa * d_cs[ka, j, 0] + wb * d_cs[kb, j, 0],
                    wa * d_cs[ka, j, 1] + wb * d_cs[kb, j, 1],
                    d_size[j, 0], d_size[j, 1], d_size[j, 2], range_m[i],
                )  # fmt: skip
                if hit:
                    range_m[i], normal[i, 0], normal[i, 1], normal[i, 2] = t, nx, ny, nz
                    albedo[i] = d_albedo[j]
                    kind[i] = DOOR

        for j in range(len(e_albedo)):  # the operator's head and torso
            if not _in_cone(axis[b], cos_half[b], apex, spread, e_sphere[j]):
                continue
            for q in range(start[b], start[b + 1]):
                i = order[q]
                if not _may_hit(rays, i, e_sphere[j]):
                    continue
                ka, wb = k[i], w[i]
                kb, wa = ka + 1, 1.0 - wb
                t, nx, ny, nz, hit = _ellipsoid_t(
                    rays[0, i] - (wa * e_centre[ka, j, 0] + wb * e_centre[kb, j, 0]),
                    rays[1, i] - (wa * e_centre[ka, j, 1] + wb * e_centre[kb, j, 1]),
                    rays[2, i] - (wa * e_centre[ka, j, 2] + wb * e_centre[kb, j, 2]),
                    rays[3, i], rays[4, i], rays[5, i], e_axes[ka, j], e_axes[kb, j], wa, wb,
                    e_semi[j, 0], e_semi[j, 1], e_semi[j, 2], range_m[i],
                )  # fmt: skip
                if hit:
                    range_m[i], normal[i, 0], normal[i, 1], normal[i, 2] = t, nx, ny, nz
                    albedo[i] = e_albedo[j]
                    kind[i] = OPERATOR

        for q in range(start[b], start[b + 1]):  # unit normals, turned against the ray
            i = order[q]
            if kind[i] == NONE:
                continue
            nx, ny, nz = normal[i, 0], normal[i, 1], normal[i, 2]
            norm = np.sqrt(nx * nx + ny * ny + nz * nz)
            if nx * rays[3, i] + ny * rays[4, i] + nz * rays[5, i] > 0.0:
                norm = -norm
            normal[i, 0], normal[i, 1], normal[i, 2] = nx / norm, ny / norm, nz / norm
