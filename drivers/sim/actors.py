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

import numpy as np
import open3d as o3d
import open3d.core as o3c
from scipy.ndimage import gaussian_filter1d, minimum_filter1d

from drivers.sim.actors_kernels import (
    DOOR,
    HEAD_RADIUS_M,
    NONE,
    OPERATOR,
    PERSON,
    SKIN_ALBEDO,
    _bounding_spheres,
    _cast_kernel,
    _near,
    _pack_rays,
    _time_grid,
)
from drivers.sim.realism import SceneDynamics
from drivers.sim.scenes.primitives import box_mesh
from drivers.sim.scenes.scene import Scene
from drivers.sim.trajectory import Trajectory, rotation_zyx
from drivers.sim.walk_path import LoopPath

log = logging.getLogger(__name__)

# ActorHits.kind's values come from the kernels; they are part of this module's interface
__all__ = ["DOOR", "HEAD_RADIUS_M", "NONE", "OPERATOR", "PERSON", "ActorHits", "Actors",
           "make_actors"]  # fmt: skip


CULL_RADIUS_M = 40.0  # actors farther than this from every ray origin are not cast against

# people
PERSON_SPEED_MPS = (1.0, 1.5)
PERSON_LATERAL_M = (0.6, 1.0)  # nominal offset from the path's centre line
PERSON_RADIUS_M = (0.20, 0.25)
PERSON_HEIGHT_M = (1.62, 1.88)  # feet to the top of the head
KEEP_RIGHT = 0.8  # the share of people who walk on their right of the centre line
PERSON_CLEARANCE_M = 0.1  # a person keeps this much off walls, furniture and open doors
CLEARANCE_HEIGHTS_M = (0.3, 1.0, 1.6)  # the side clearance is measured at these heights
CLEARANCE_WINDOW_M = 2.0  # and taken as the least over this much of the path around a point
LATERAL_SMOOTHING_M = 0.4  # sideways moves are smoothed over this much path (sigma)
OPERATOR_KEEP_OUT_M = 1.2  # a person this near the operator (horizontally) is transparent
SAME_FLOOR_M = 1.5  # ... and only when on the same floor: feet within this in height
CLOTHES_ALBEDO = (0.15, 0.5)
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
