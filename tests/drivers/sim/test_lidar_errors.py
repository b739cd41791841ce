"""The twin's Mid-360 error models (drivers.sim.lidar_errors): each does what it claims, on small
synthetic scenes, and each check fails with its switch off; with every switch off the sweep is
exactly the one the ideal model gave before the error models existed."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from drivers.frames import LidarSweep
from drivers.sim import lidar_errors as le
from drivers.sim.actors import ActorHits
from drivers.sim.lidar import LidarModel, Mid360Pattern, simulate_sweep
from drivers.sim.realism import LidarErrors, realism_profile
from drivers.sim.scenes.primitives import Material, SceneBuilder
from drivers.sim.scenes.raycast import Raycaster
from drivers.sim.scenes.scene import CHECKER, GLASS, PLAIN, Scene

OFF = LidarErrors()
IDEAL = LidarModel()
GREY = Material((0.6, 0.6, 0.6), CHECKER, 0.5)
DARK_ALBEDO = 0.03


def plain(albedo: float, surface: int = 0) -> Material:
    return Material((albedo, albedo, albedo), PLAIN, 1.0, surface)


def room() -> Scene:
    """A 12 x 8 x 3 m room with a pillar, a glass pane at x = -3 in front of the wall at x = -6,
    and a dark box."""
    b = SceneBuilder()
    b.box((-6.0, -4.0, -0.2), (6.0, 4.0, 0.0), GREY)
    b.box((-6.0, -4.0, 3.0), (6.0, 4.0, 3.2), GREY)
    b.box((-6.2, -4.0, 0.0), (-6.0, 4.0, 3.0), GREY)
    b.box((6.0, -4.0, 0.0), (6.2, 4.0, 3.0), GREY)
    b.box((-6.0, -4.2, 0.0), (6.0, -4.0, 3.0), GREY)
    b.box((-6.0, 4.0, 0.0), (6.0, 4.2, 3.0), GREY)
    b.box((2.0, 1.0, 0.0), (2.6, 1.6, 3.0), plain(0.8))
    b.box((-3.0, -2.0, 0.5), (-2.99, 2.0, 2.5), Material((0.15, 0.18, 0.2), PLAIN, 1.0, GLASS))
    b.box((0.0, -3.5, 0.0), (1.0, -3.0, 1.0), plain(DARK_ALBEDO))
    return b.build("room", np.zeros((2, 3)))


def walls() -> Scene:
    """Plain walls around the origin at 0.6 m (80 %), 6 m (50 %) and 30 m (20 %); open to -y."""
    b = SceneBuilder()
    b.box((0.6, -60.0, -30.0), (0.7, 60.0, 60.0), plain(0.8))
    b.box((-30.0, 6.0, -30.0), (0.6, 6.1, 60.0), plain(0.5))
    b.box((-30.1, -60.0, -30.0), (-30.0, 6.0, 60.0), plain(0.2))
    return b.build("walls", np.zeros((2, 3)))


def plate() -> Scene:
    """A 1 x 1 m plate 3 m in front of the origin, before a wall at 6 m: depth edges."""
    b = SceneBuilder()
    b.box((3.0, -0.5, -0.5), (3.05, 0.5, 0.5), plain(0.8))
    b.box((6.0, -20.0, -20.0), (6.1, 20.0, 20.0), plain(0.8))
    return b.build("plate", np.zeros((2, 3)))


@pytest.fixture(scope="module")
def pattern() -> Mid360Pattern:
    return Mid360Pattern.load()


@pytest.fixture(scope="module")
def cast() -> dict[str, tuple[Scene, Raycaster]]:
    scenes = {"room": room(), "walls": walls(), "plate": plate()}
    return {name: (s, Raycaster(s)) for name, s in scenes.items()}


def moving(t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 4, 4]: along x, turning
    T = np.zeros((len(t_s), 4, 4))
    a = 0.3 * t_s
    T[:, 0, 0] = T[:, 1, 1] = np.cos(a)
    T[:, 1, 0], T[:, 0, 1] = np.sin(a), -np.sin(a)
    T[:, 2, 2] = T[:, 3, 3] = 1.0
    T[:, :3, 3] = np.column_stack([0.5 * t_s, np.full(len(t_s), -0.2), np.full(len(t_s), 1.2)])
    return T


def standing(xyz) -> callable:
    def pose_at(t_s: np.ndarray) -> np.ndarray:  # [N] -> [N, 4, 4]
        T = np.tile(np.eye(4), (len(t_s), 1, 1))
        T[:, :3, 3] = xyz
        return T

    return pose_at


def sweeps(
    pattern, scene_rc, errors: LidarErrors, count: int, model=IDEAL, at=(0.0, 0.0, 0.0),
    actors=None, seed: int = 0,
) -> LidarSweep:  # fmt: skip
    """count sweeps from a unit standing at `at` (axes = world axes), merged into one."""
    scene, rc = scene_rc
    rng = np.random.default_rng(seed)
    pose_at, kw = standing(at), {"errors": errors, "surface": scene.surface, "actors": actors}
    out = [
        simulate_sweep(pattern, model, pose_at, rc, scene.albedo_at, 0.1 * i, 0.1, rng, **kw)
        for i in range(count)
    ]
    return LidarSweep(
        t_ns=0,
        xyz_m=np.vstack([s.xyz_m for s in out]),
        intensity=np.concatenate([s.intensity for s in out]),
    )


def truth(scene_rc, sweep: LidarSweep, at=(0.0, 0.0, 0.0)):
    """Each point's reported direction cast without errors -> (range, unit dir, hits)."""
    r = np.linalg.norm(sweep.xyz_m, axis=1)
    d = sweep.xyz_m / r[:, None]
    return r, d, scene_rc[1].cast(np.asarray(at, dtype=float), d)


# --- ideal: unchanged -----------------------------------------------------------------------


def test_ideal_sweep_is_the_one_recorded_before_the_error_models(pattern, cast):
    """Recorded on the ideal model before lidar_errors existed (commit 1fbc26e): the same points
    and the same draws from the sweep's generator, so the ideal twin's sessions are unchanged."""
    scene, rc = cast["room"]
    rng = np.random.default_rng(7)
    s = simulate_sweep(pattern, LidarModel(), moving, rc, scene.albedo_at, 0.3, 0.1, rng, 0, 3)
    assert len(s.xyz_m) == 19931 and int(s.line.sum()) == 29885 and s.t_ns == 300_000_000
    np.testing.assert_allclose(
        s.xyz_m.sum(axis=0), [2550.1730130580427, -579.8536664459856, 21044.06096550382], rtol=1e-6
    )
    np.testing.assert_allclose(s.intensity.astype(np.float64).sum(), 1386881.5441279411, rtol=1e-6)
    np.testing.assert_allclose(s.point_dt_s.astype(np.float64).sum(), 996.4886199843895, rtol=1e-6)
    np.testing.assert_allclose(
        s.xyz_m[:3],
        [
            [-2.256945968010584, 0.5562867826563241, 1.7870372446606713],
            [-2.103683729007588, 0.5463756100591126, 1.806217531566335],
            [-1.926576537260956, 0.5298066532340169, 1.797283476986783],
        ],
        rtol=1e-6,
    )
    assert rng.random() == 0.596594662445523  # no draw more or less than before

    rng = np.random.default_rng(7)
    again = simulate_sweep(
        pattern, LidarModel(), moving, rc, scene.albedo_at, 0.3, 0.1, rng, 0, 3,
        errors=LidarErrors(), surface=scene.surface, actors=None,
    )  # fmt: skip
    assert np.array_equal(again.xyz_m, s.xyz_m) and np.array_equal(again.intensity, s.intensity)


def test_errors_follow_the_seed(pattern, cast):
    errors = realism_profile("harsh").lidar
    at = (0.0, 0.0, 1.2)
    a, b, c = (sweeps(pattern, cast["room"], errors, 1, at=at, seed=seed) for seed in (1, 1, 2))
    assert len(a.xyz_m) > 10_000
    assert np.array_equal(a.xyz_m, b.xyz_m)
    assert len(a.xyz_m) != len(c.xyz_m) or not np.array_equal(a.xyz_m, c.xyz_m)


# --- 1. range noise -------------------------------------------------------------------------


def test_range_noise_formula_holds_the_datasheet_figures():
    sigma = le.range_sigma_m(np.array([10.0, 0.2]), np.array([0.8, 0.8]), np.ones(2))
    np.testing.assert_allclose(sigma, [0.02, 0.03], atol=1e-12)
    far = le.range_sigma_m(np.array([10.0, 30.0, 30.0]), np.array([0.2, 0.2, 0.2]),
                           np.array([1.0, 1.0, 0.3]))  # fmt: skip
    assert 0.02 < far[0] < far[1] < far[2] <= le.RANGE_SIGMA_MAX_M


def _noise_ratios(pattern, cast, errors: LidarErrors) -> dict[float, float]:
    """Measured / predicted range noise on the walls, per range bin (its lower edge)."""
    scene = cast["walls"]
    s = sweeps(pattern, scene, errors, 4)
    r, d, hits = truth(scene, s)
    face = np.maximum(hits.face_id, 0)
    albedo = scene[0].albedo[face].mean(axis=1)
    cos_inc = np.abs(np.einsum("ij,ij->i", hits.normal_world, d))
    sigma = le.range_sigma_m(hits.range_m, albedo, cos_inc)
    err = r - hits.range_m
    edges = [0.6, 1.0, 2.0, 6.0, 12.0, 30.0, 45.0]
    ratios = {}
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        m = (hits.range_m >= lo) & (hits.range_m < hi)
        assert m.sum() > 300, (lo, m.sum())
        ratios[lo] = float(np.sqrt(np.mean(err[m] ** 2) / np.mean(sigma[m] ** 2)))
    return ratios


def test_range_noise_grows_with_range_as_the_formula_says(pattern, cast):
    ratios = _noise_ratios(pattern, cast, replace(OFF, range_noise_model=True))
    assert all(0.85 < v < 1.15 for v in ratios.values()), ratios
    ideal = _noise_ratios(pattern, cast, OFF)  # the constant 2 cm: too much near, too little far
    assert ideal[0.6] > 1.3 and ideal[30.0] < 0.5, ideal


# --- 2. angular noise -----------------------------------------------------------------------


def _angular_sigma_deg(pattern, cast, deg: float) -> float:
    """On the walls, with no range noise: how far points leave their plane, as an angle."""
    scene = cast["walls"]
    s = sweeps(pattern, scene, replace(OFF, angular_noise_deg=deg), 3, LidarModel(0.0))
    r, d, hits = truth(scene, s)
    sin_inc = np.sqrt(1.0 - np.einsum("ij,ij->i", hits.normal_world, d) ** 2)
    off_plane = (r - hits.range_m) * np.einsum("ij,ij->i", hits.normal_world, d)
    m = (sin_inc > 0.3) & (r > 2.0)
    a = off_plane[m] / (r[m] * sin_inc[m])
    return float(np.degrees(1.4826 * np.median(np.abs(a - np.median(a)))))


def test_angular_noise_moves_points_off_a_far_wall(pattern, cast):
    assert abs(_angular_sigma_deg(pattern, cast, 0.15) / 0.15 - 1.0) < 0.15
    assert _angular_sigma_deg(pattern, cast, 0.0) < 0.01


# --- 3. mixed points ------------------------------------------------------------------------


def test_mixed_points_appear_between_an_edge_and_the_background(pattern, cast):
    def ghosts(errors: LidarErrors) -> np.ndarray:
        s = sweeps(pattern, cast["plate"], errors, 5)
        x = s.xyz_m[:, 0]
        return s.xyz_m[(x > 3.3) & (x < 5.7)]

    assert len(ghosts(OFF)) == 0
    g = ghosts(replace(OFF, beam_divergence_deg=0.3))
    assert len(g) >= 10
    # each lies along a beam that passes the plate's outline within the beam's half width
    yz = g[:, 1:] * (3.0 / g[:, :1])  # where its direction crosses the plate's plane
    to_outline = np.abs(np.max(np.abs(yz), axis=1) - 0.5)
    assert np.all(to_outline < 3.05 * np.tan(np.radians(0.15)) + 0.01)


# --- 4. false returns -----------------------------------------------------------------------


def test_false_returns_come_at_the_datasheet_rate(pattern, cast):
    rate, count = 0.005, 3
    s = sweeps(pattern, cast["walls"], replace(OFF, false_return_rate=rate), count)
    r, _, hits = truth(cast["walls"], s)
    false = s.intensity < le.FALSE_RETURN_INTENSITY  # true returns here are >= 30 (20 % walls)
    expected = rate * 20_000 * count
    assert abs(false.sum() - expected) < 5 * np.sqrt(expected)
    upper = np.minimum(np.where(np.isfinite(hits.range_m), 0.8 * hits.range_m, np.inf), 30.0)
    assert np.all((r[false] > 0.1) & (r[false] <= upper[false] + 0.05))
    assert np.all(np.isinf(hits.range_m[false]) | (r[false] < hits.range_m[false] - 0.1))
    off = sweeps(pattern, cast["walls"], OFF, 1)
    assert np.all(off.intensity >= 20.0)


# --- 5. glass -------------------------------------------------------------------------------


def test_glass_passes_most_shots_through(pattern, cast):
    at = np.array([0.0, 0.0, 1.2])

    def through_pane(errors: LidarErrors) -> tuple[np.ndarray, np.ndarray, float]:
        """The points whose direction crosses the pane at x = -3 -> (range, unit direction,
        points per shot in those directions)."""
        s = sweeps(pattern, cast["room"], errors, 4, at=at)
        shots = np.vstack([pattern.fire(20_000 * i, 20_000)[1] for i in range(4)])
        inside = []
        for d in (s.xyz_m / np.linalg.norm(s.xyz_m, axis=1, keepdims=True), shots):
            t = -3.0 / np.minimum(d[:, 0], -1e-9)
            y, z = d[:, 1] * t, at[2] + d[:, 2] * t
            inside.append((d[:, 0] < 0) & (np.abs(y) < 1.9) & (z > 0.6) & (z < 2.4))
        r = np.linalg.norm(s.xyz_m[inside[0]], axis=1)
        return r, s.xyz_m[inside[0]] / r[:, None], inside[0].sum() / inside[1].sum()

    r, d, _ = through_pane(OFF)
    assert len(r) > 200 and np.all(np.abs(r * d[:, 0] + 3.0) < 0.15)  # glass is a wall

    r, d, kept = through_pane(replace(OFF, glass=True))
    behind = r * d[:, 0] < -3.2
    assert behind.mean() > 0.6  # most come from behind the pane, at the whole path's range
    start = 3.05 / -d[behind, 0]  # just beyond the pane
    beyond = cast["room"][1].cast(at + d[behind] * start[:, None], d[behind]).range_m
    assert np.all(np.abs(r[behind] - (start + beyond)) < 0.15)
    incidence = np.degrees(np.arccos(-d[~behind, 0]))  # the rest: glints off the pane itself
    assert (~behind).sum() > 0 and np.all(incidence < le.GLASS_GLINT_DEG + 0.5)
    assert 0.7 < kept < 0.9, kept  # a fifth of the shots through glass are lost


# --- 6. dark surfaces -----------------------------------------------------------------------


def test_dark_surfaces_lose_shots(pattern, cast):
    scene = cast["room"]
    at = (0.5, -1.5, 0.6)  # 1.5 m from the dark box's face

    def on_dark_box(errors: LidarErrors) -> int:
        s = sweeps(pattern, scene, errors, 4, at=at)
        _, _, hits = truth(scene, s, at)
        albedo = scene[0].albedo[np.maximum(hits.face_id, 0)].mean(axis=1)
        return int(((hits.face_id >= 0) & (albedo < 0.04)).sum())

    off, on = on_dark_box(OFF), on_dark_box(replace(OFF, dark_dropout=True))
    assert off > 500
    keep = DARK_ALBEDO / le.DARK_REFLECTIVITY  # 0.6
    assert abs(on / off - keep) < 0.08, (on, off)


# --- 7. actors ------------------------------------------------------------------------------


class Balls:
    """A fake actors object: spheres (centre, radius, albedo) cast analytically."""

    def __init__(self, balls) -> None:
        self.balls = balls
        self.calls: list[int] = []

    def cast(self, origins, dirs, t_s) -> ActorHits:  # [N, 3], [N, 3], [N]
        assert origins.shape == dirs.shape == (len(t_s), 3)
        self.calls.append(len(t_s))
        best = np.full(len(dirs), np.inf)
        normal, albedo = np.zeros((len(dirs), 3)), np.zeros(len(dirs))
        for c, radius, a in self.balls:
            oc = origins - np.asarray(c)
            b = np.einsum("ij,ij->i", oc, dirs)
            disc = b**2 - (np.einsum("ij,ij->i", oc, oc) - radius**2)
            t = -b - np.sqrt(np.maximum(disc, 0.0))
            hit = (disc > 0) & (t > 0) & (t < best)
            best[hit], albedo[hit] = t[hit], a
            normal[hit] = (oc[hit] + dirs[hit] * t[hit, None]) / radius
        return ActorHits(best, normal, albedo, np.where(np.isfinite(best), 1, 0).astype(np.uint8))


def test_actors_return_in_front_of_the_scene(pattern, cast):
    scene = cast["walls"]
    balls = Balls([((-5.0, 0.0, 0.0), 0.5, 0.3), ((3.0, 0.0, 0.0), 0.5, 0.9)])  # 2nd behind a wall
    s = sweeps(pattern, scene, OFF, 3, actors=balls)
    assert balls.calls == [20_000] * 3
    r, d, hits = truth(scene, s)
    ball_r = balls.cast(np.zeros_like(d), d, np.zeros(len(d))).range_m
    front = np.isfinite(ball_r) & (ball_r < hits.range_m) & (ball_r < 5.0)
    assert front.sum() > 20
    assert np.all(np.abs(r[front] - ball_r[front]) < 0.1)  # on the ball, not the wall at 30 m
    assert abs(np.median(s.intensity[front]) - 0.3 * 150) < 3
    hidden = np.isfinite(ball_r) & (ball_r > hits.range_m)
    assert hidden.sum() > 20 and np.all(np.abs(r[hidden] - hits.range_m[hidden]) < 0.1)


def test_actors_and_glass(pattern, cast):
    at = (0.0, 0.0, 1.2)
    front = ((-2.0, -1.0, 1.2), 0.3, 0.5)  # between the unit and the pane at x = -3
    behind = ((-4.5, 1.5, 1.2), 0.4, 0.5)  # seen through the pane at 18 deg: no glint

    def on_balls(errors: LidarErrors) -> tuple[np.ndarray, np.ndarray]:
        balls = Balls([front, behind])
        s = sweeps(pattern, cast["room"], errors, 3, at=at, actors=balls)
        r = np.linalg.norm(s.xyz_m, axis=1)
        d = s.xyz_m / r[:, None]
        ball_r = balls.cast(np.tile(at, (len(d), 1)), d, np.zeros(len(d))).range_m
        on_front = np.isfinite(ball_r) & (ball_r < 3.0)
        on_behind = np.isfinite(ball_r) & (ball_r > 3.0)
        assert on_front.sum() > 20 and np.all(np.abs(r[on_front] - ball_r[on_front]) < 0.1)
        return r[on_behind], ball_r[on_behind]

    r, ball_r = on_balls(OFF)  # the pane hides the ball behind it
    assert len(r) > 20 and np.all(np.abs(r - ball_r) > 0.5)
    r, ball_r = on_balls(replace(OFF, glass=True))  # through glass: the ball, never the pane
    assert len(r) > 20 and np.all(np.abs(r - ball_r) < 0.1)


def test_the_twin_passes_its_realism_to_the_lidar():
    from drivers.sim.twin import SimSettings, TwinSource
    from drivers.source import Sensor

    def first_sweep(realism: str) -> LidarSweep:
        settings = SimSettings(
            scene="corridor", duration_s=0.1, camera_rate_hz=0.0, realism=realism_profile(realism)
        )
        source = TwinSource(settings)
        assert (source.actors is None) == (realism == "ideal")  # people, doors, the operator
        return next(f.frame for f in source.frames() if f.sensor == Sensor.lidar)

    ideal, datasheet = first_sweep("ideal"), first_sweep("datasheet")
    assert len(ideal.xyz_m) > 10_000
    same = len(ideal.xyz_m) == len(datasheet.xyz_m) and np.array_equal(ideal.xyz_m, datasheet.xyz_m)
    assert not same
