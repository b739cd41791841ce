"""Tests of drivers.sim.motion: the seeded handheld trajectories that are the ground truth."""

from __future__ import annotations

import time
from functools import cache

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from drivers.sim.motion import PROFILES, STILL_S, make_trajectory
from drivers.sim.trajectory import Trajectory

# a 6 m x 4 m room loop (20 m), and a 3-D loop: up a 0.9 m ramp, along, and back down; both
# start mid-way along a side
SQUARE = np.array([[3, 0, 0], [6, 0, 0], [6, 4, 0], [0, 4, 0], [0, 0, 0]], dtype=float)
RAMP_LOOP = np.array(
    [
        [2, 0, 0],
        [4, 0, 0],
        [8, 0, 0.9],
        [12, 0, 0.9],
        [12, 5, 0.9],
        [8, 5, 0.9],
        [4, 5, 0],
        [0, 5, 0],
        [0, 0, 0],
    ],
    dtype=float,
)
# out and straight back the same way: the walker has to stop and turn round at each end
OUT_AND_BACK = np.array([[0, 0, 0], [10, 0, 0]], dtype=float)
PATHS = {"square": SQUARE, "ramp": RAMP_LOOP, "out_and_back": OUT_AND_BACK}


@cache
def traj(path: str, profile: str, duration_s: float = 60.0, seed: int = 0) -> Trajectory:
    return make_trajectory(PATHS[path], profile, duration_s, seed)


def omega_fd(tr: Trajectory, t_s: np.ndarray, h_s: float) -> np.ndarray:  # [N] -> [N, 3]
    """Body-frame angular velocity by central differences of rotation(): log(R-^T R+) / 2h."""
    R_minus, R_plus = tr.rotation(t_s - h_s), tr.rotation(t_s + h_s)
    return Rotation.from_matrix(np.transpose(R_minus, (0, 2, 1)) @ R_plus).as_rotvec() / (2 * h_s)


def heading(tr: Trajectory, t_s: np.ndarray) -> np.ndarray:  # [N] -> [N] unwrapped yaw of body x
    R = tr.rotation(t_s)
    return np.unwrap(np.arctan2(R[:, 1, 0], R[:, 0, 0]))


@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("path", ["square", "ramp"])
def test_first_two_seconds_exactly_still(path: str, profile: str) -> None:
    tr = traj(path, profile)
    t = np.linspace(0.0, STILL_S, 401)
    T = tr.pose(t)
    np.testing.assert_allclose(T, np.broadcast_to(T[0], T.shape), rtol=0, atol=1e-12)
    for f in (tr.velocity_world, tr.accel_world, tr.angular_velocity_body, tr.angular_accel_body):
        assert np.abs(f(t)).max() <= 1e-9, f.__name__
    # the start: walk_path[0] (mid-side, so the corner rounding hardly reaches it) at the
    # sensor height, level
    np.testing.assert_allclose(T[0, :3, 3], PATHS[path][0] + [0, 0, 1.5], atol=5e-3)
    np.testing.assert_allclose(T[0, 2, :3], [0, 0, 1], atol=1e-12)


@pytest.mark.parametrize("profile", ["walk", "aggressive"])
@pytest.mark.parametrize("path", ["square", "ramp", "out_and_back"])
def test_derivatives_are_those_of_the_pose(path: str, profile: str) -> None:
    """velocity/accel/omega/alpha agree with central differences of position() and rotation()."""
    tr = traj(path, profile)
    t = np.random.default_rng(1).uniform(STILL_S - 0.5, tr.duration_s - 0.01, 300)
    h = 1e-4  # truncation ~h^2 * (higher derivative) ~ 1e-7; round-off ~1e-16 * 10 / h ~ 1e-11
    v, a = tr.velocity_world(t), tr.accel_world(t)
    w, alpha = tr.angular_velocity_body(t), tr.angular_accel_body(t)
    np.testing.assert_allclose(
        v,
        (tr.position(t + h) - tr.position(t - h)) / (2 * h),
        rtol=0,
        atol=1e-5 * (1 + np.abs(v).max()),
    )
    np.testing.assert_allclose(
        a, (tr.velocity_world(t + h) - tr.velocity_world(t - h)) / (2 * h), rtol=0, atol=1e-4
    )
    h2 = 1e-3  # the second difference of position: truncation h^2/12 * snap, round-off 1e-16/h^2
    second = (tr.position(t + h2) - 2 * tr.position(t) + tr.position(t - h2)) / h2**2
    np.testing.assert_allclose(a, second, rtol=0, atol=1e-3)
    np.testing.assert_allclose(w, omega_fd(tr, t, h), rtol=0, atol=1e-5 * (1 + np.abs(w).max()))
    np.testing.assert_allclose(
        alpha,
        (tr.angular_velocity_body(t + h) - tr.angular_velocity_body(t - h)) / (2 * h),
        rtol=0,
        atol=1e-4 * (1 + np.abs(alpha).max()),
    )
    R = tr.rotation(t)
    np.testing.assert_allclose(
        R @ np.transpose(R, (0, 2, 1)), np.broadcast_to(np.eye(3), R.shape), atol=1e-12
    )
    np.testing.assert_allclose(np.linalg.det(R), 1.0, atol=1e-12)
    T = tr.pose(t)
    np.testing.assert_array_equal(T[:, :3, :3], R)
    np.testing.assert_array_equal(T[:, :3, 3], tr.position(t))


@pytest.mark.parametrize("path", ["square", "ramp", "out_and_back"])
def test_smooth_without_jerk_spikes(path: str) -> None:
    """C2 and more: acceleration changes gently, through the ease-in and everywhere else."""
    tr = traj(path, "walk")
    t = np.arange(0.0, tr.duration_s, 0.001)
    a = tr.accel_world(t)
    jerk = np.linalg.norm(np.diff(a, axis=0), axis=1) / 0.001
    assert jerk.max() < 40.0  # m/s^3; the step bounce alone has A (2 pi f)^3 ~ 20
    ease_in = t[1:] < tr.cruise_s[0]
    cruise = (t[1:] > tr.cruise_s[0]) & (t[1:] < tr.cruise_s[1])
    assert jerk[ease_in].max() <= 1.5 * np.median(jerk[cruise])  # no spike starting off
    assert np.linalg.norm(a, axis=1).max() < 4.0  # m/s^2
    alpha = tr.angular_accel_body(t)
    assert np.abs(np.diff(alpha, axis=0) / 0.001).max() < 300.0  # rad/s^3


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("path", ["square", "ramp"])
def test_walk_speed(path: str, seed: int) -> None:
    tr = traj(path, "walk", 60.0, seed)
    t0, t1 = tr.cruise_s
    assert t0 < STILL_S + 2.5 and t1 - t0 > 30.0
    t = np.arange(t0, t1, 0.01)
    speed = np.linalg.norm(tr.velocity_world(t), axis=1)
    assert 1.0 <= np.median(speed) <= 1.5
    if path == "square":  # flat: the walker keeps its pace, a little slower round corners
        assert speed.min() >= 0.9 and speed.max() <= 1.6
    else:  # on the ramp it slows down (to ~0.8 of its pace there)
        assert speed.min() >= 0.7 and speed.max() <= 1.6
    # height: floor + 1.5 m, with a step bounce of a few centimetres
    z = tr.position(t)[:, 2]
    floor_z = np.interp(tr.position(t)[:, 0], [0, 4, 8, 12], [0, 0, 0.9, 0.9])
    assert np.abs(z - (floor_z if path == "ramp" else 0.0) - 1.5).max() < 0.1
    bounce = z - np.convolve(z, np.ones(51) / 51, mode="same")
    assert 0.005 < np.abs(bounce[100:-100]).max() < 0.025


def test_walk_goes_round_the_loop_back_to_the_start() -> None:
    """The 20 m square in 60 s: whole loops at walking speed, ending where it started."""
    tr = traj("square", "walk")
    assert 2 <= tr.n_loops <= 4
    t = np.arange(0.0, tr.duration_s + 1e-9, 0.01)
    p = tr.position(t)
    np.testing.assert_allclose(p[-1], p[0], atol=1e-6)
    assert np.abs(tr.velocity_world(t[-50:])).max() < 1e-9
    # it did go round: it reached the far corner region twice
    far = np.linalg.norm(p[:, :2] - [6, 4], axis=1) < 1.0
    assert np.count_nonzero(np.diff(far.astype(int)) == 1) == tr.n_loops
    yaw = heading(tr, t)
    assert abs(np.cos(yaw[-1] - yaw[0]) - 1.0) < 1e-9
    # the 3-D loop climbs and comes back down
    tr3 = traj("ramp", "walk", 120.0)
    p3 = tr3.position(np.arange(0.0, 120.0, 0.05))
    assert tr3.n_loops >= 1 and 2.3 < p3[:, 2].max() < 2.45 and p3[:, 2].min() > 1.45
    np.testing.assert_allclose(p3[-1], p3[0], atol=1e-6)


def test_a_start_on_a_corner_is_on_the_rounded_corner() -> None:
    corner_start = np.roll(SQUARE, -1, axis=0)  # starts at (6, 0)
    tr = make_trajectory(corner_start, "walk", 30.0, 0)
    start = tr.position(np.zeros(1))[0]
    assert 0.2 < np.linalg.norm(start - [6, 0, 1.5]) < 0.7


def test_walk_does_a_full_turn() -> None:
    tr = traj("square", "walk")
    assert tr.turn_s is not None
    t = np.arange(tr.turn_s[0] - 0.5, tr.turn_s[1] + 0.5, 0.02)
    body = heading(tr, t)
    v = tr.velocity_world(t)
    travel = np.unwrap(np.arctan2(v[:, 1], v[:, 0]))
    spin = (body[-1] - body[0]) - (travel[-1] - travel[0])
    assert abs(abs(spin) - 2 * np.pi) < 0.3
    # no turn in a short walk
    assert make_trajectory(SQUARE, "walk", 20.0, 0).turn_s is None


def test_stops_and_turns_round_at_a_reversal() -> None:
    tr = traj("out_and_back", "walk")
    t = np.arange(tr.cruise_s[0], tr.cruise_s[1], 0.01)
    speed = np.linalg.norm(tr.velocity_world(t), axis=1)
    assert speed.min() < 0.1  # it stops at the far end ...
    assert np.linalg.norm(tr.angular_velocity_body(t), axis=1).max() < 2.0  # ... to turn round
    x = tr.position(t)[:, 0]
    assert x.max() > 9.0


@pytest.mark.parametrize("seed", [0, 5])
@pytest.mark.parametrize("path", ["square", "ramp", "out_and_back"])
def test_aggressive_swings(path: str, seed: int) -> None:
    tr = traj(path, "aggressive", 60.0, seed)
    t = np.arange(STILL_S, tr.duration_s, 0.001)
    omega = np.linalg.norm(tr.angular_velocity_body(t), axis=1)
    assert 2.5 <= omega.max() <= 3.2
    # fast much of the time, not in one spike (less where the path has on-the-spot turns)
    assert np.mean(omega > 1.0) > (0.1 if path == "out_and_back" else 0.25)
    # the same walk underneath, at walking speed (with stops to turn round on the out-and-back)
    t = np.arange(*tr.cruise_s, 0.01)
    speed = np.median(np.linalg.norm(tr.velocity_world(t), axis=1))
    assert (0.7 if path == "out_and_back" else 1.0) <= speed <= 1.5
    # the walk profile with the same seed turns much more slowly (except its one full turn)
    walk = traj(path, "walk", 60.0, seed)
    calm = np.linalg.norm(walk.angular_velocity_body(np.arange(STILL_S, 60.0, 0.01)), axis=1)
    assert np.median(calm) < 0.5 * np.median(omega)


@pytest.mark.parametrize("duration_s", [0.5, 3.0, 60.0])
def test_static_is_constant(duration_s: float) -> None:
    tr = make_trajectory(RAMP_LOOP, "static", duration_s, 3)
    t = np.linspace(0.0, duration_s, 1000)
    T = tr.pose(t)
    np.testing.assert_allclose(T, np.broadcast_to(T[0], T.shape), rtol=0, atol=1e-12)
    for f in (tr.velocity_world, tr.accel_world, tr.angular_velocity_body, tr.angular_accel_body):
        assert np.abs(f(t)).max() == 0.0
    # walk and aggressive too short to move stand still as well
    tr = make_trajectory(SQUARE, "walk", 3.0, 0)
    assert np.abs(tr.velocity_world(np.linspace(0, 3, 100))).max() == 0.0


@pytest.mark.parametrize("profile", ["walk", "aggressive"])
def test_deterministic_per_seed(profile: str) -> None:
    a = make_trajectory(SQUARE, profile, 40.0, 7)
    b = make_trajectory(SQUARE, profile, 40.0, 7)
    c = make_trajectory(SQUARE, profile, 40.0, 8)
    t = np.linspace(0, 40, 2001)
    np.testing.assert_array_equal(a.control, b.control)
    np.testing.assert_array_equal(a.pose(t), b.pose(t))
    assert np.abs(a.position(t) - c.position(t)).max() > 0.1
    assert np.abs(a.rotation(t) - c.rotation(t)).max() > 0.01


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="profile"):
        make_trajectory(SQUARE, "run", 10.0, 0)
    with pytest.raises(ValueError, match="walk_path"):
        make_trajectory(np.zeros((3, 2)), "walk", 10.0, 0)
    with pytest.raises(ValueError, match="duration"):
        make_trajectory(SQUARE, "walk", 0.0, 0)
    tr = traj("square", "walk")
    with pytest.raises(ValueError, match="outside"):
        tr.pose(np.array([tr.duration_s + 5.0]))
    assert tr.pose(np.array(1.0)).shape == (1, 4, 4)  # a scalar time is one sample


def test_fast_enough() -> None:
    """Not pathologically slow: building 120 s takes ~0.15 s idle and 20k evaluations ~10 ms;
    the bounds leave room for a loaded CI machine (speed itself is `scanner bench`'s)."""
    walk_path = np.array([[0, 0, 0], [20, 0, 0], [20, 10, 0.5], [0, 10, 0.5]], dtype=float)
    build_s, eval_s = [], []
    for _ in range(3):
        t0 = time.perf_counter()
        tr = make_trajectory(walk_path, "aggressive", 120.0, 0)
        t1 = time.perf_counter()
        tr.pose(np.linspace(0.0, 120.0, 20_000))
        eval_s.append(time.perf_counter() - t1)
        build_s.append(t1 - t0)
    assert min(build_s) < 3.0 and min(eval_s) < 0.3


def test_another_mission_enters_the_same_walk_elsewhere() -> None:
    from drivers.sim.walk_path import starting_at

    square = np.array([[0, 0, 0], [10, 0, 0], [10, 10, 0], [0, 10, 0]], float)
    moved = starting_at(square, 25.0)  # halfway along the third side
    np.testing.assert_allclose(moved[0], [5, 10, 0])
    np.testing.assert_allclose(moved[1:], square[[3, 0, 1, 2]])
    length = lambda p: np.linalg.norm(np.diff(np.vstack([p, p[:1]]), axis=0), axis=1).sum()  # noqa: E731
    assert length(moved) == pytest.approx(length(square))
    np.testing.assert_allclose(starting_at(square, 40.0 + 25.0)[0], [5, 10, 0])  # modulo a loop
    walk = make_trajectory(moved, "walk", 10.0, 0)
    np.testing.assert_allclose(walk.position(np.zeros(1))[0, :2], [5, 10], atol=0.7)
