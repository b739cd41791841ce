"""The twin's moving things: people on the route, swinging doors, the operator's own body."""

import numpy as np
import pytest

from drivers.sim.actors import (
    DOOR,
    HEAD_RADIUS_M,
    OPERATOR,
    PERSON,
    Actors,
    make_actors,
)
from drivers.sim.lidar import Mid360Pattern
from drivers.sim.motion import make_trajectory
from drivers.sim.realism import SceneDynamics
from drivers.sim.scenes.catalog import make_scene


@pytest.fixture(scope="module")
def office():
    return make_scene("office", 0)


@pytest.fixture(scope="module")
def walk(office):
    return make_trajectory(office.walk_path, "walk", 60.0, 0)


@pytest.fixture(scope="module")
def crowd(office, walk) -> Actors:
    return Actors(office, walk, SceneDynamics(people=4, doors=True), True, seed=3)


@pytest.fixture(scope="module")
def people(office, walk) -> Actors:
    return Actors(office, walk, SceneDynamics(people=1), False, seed=3)


@pytest.fixture(scope="module")
def doors(office, walk) -> Actors:
    return Actors(office, walk, SceneDynamics(doors=True), False, seed=3)


def _visible_person(actors: Actors, t_s: float) -> tuple[int, np.ndarray]:
    feet, visible = actors.people_feet(np.array([t_s]))
    j = int(np.flatnonzero(visible[0])[0])
    return j, feet[0, j]


def _horizontal(dirs_xy: np.ndarray) -> np.ndarray:  # [N, 2] -> [N, 3] unit
    d = np.column_stack([dirs_xy, np.zeros(len(dirs_xy))])
    return d / np.linalg.norm(d, axis=1, keepdims=True)


def test_a_ray_at_a_person_hits_at_the_right_range(people):
    t = 20.0
    j, foot = _visible_person(people, t)
    p = people.people
    towards = _horizontal(np.array([[0.6, -0.8]]))[0]
    body = foot + [0.0, 0.0, 1.0]
    head = foot + [0.0, 0.0, p.height_m[j] - HEAD_RADIUS_M]
    origins = np.array([body - 5.0 * towards, head - 5.0 * towards, body - 5.0 * towards])
    dirs = np.array([towards, towards, -towards])  # the body, the head, and away from it
    hits = people.cast(origins, dirs, np.full(3, t))
    np.testing.assert_allclose(hits.range_m[:2], [5.0 - p.radius_m[j], 5.0 - HEAD_RADIUS_M])
    np.testing.assert_allclose(hits.normal_world[:2], [-towards, -towards], atol=1e-9)
    assert list(hits.kind) == [PERSON, PERSON, 0]
    assert np.isinf(hits.range_m[2]) and not hits.hit[2]
    assert 0.15 <= hits.albedo[0] <= 0.5 and hits.albedo[1] == pytest.approx(0.3)


def test_people_walk_along_the_path(people, office):
    t = np.arange(0.0, 60.0, 0.5)
    feet, _ = people.people_feet(t)  # [T, M, 3]
    step = np.linalg.norm(np.diff(feet, axis=0), axis=2) / 0.5  # [T - 1, M] m/s
    assert np.all(step < 1.6) and np.median(step) > 0.9
    # near the walk path's centre line (within the lateral offset), on its floor
    path = office.walk_path
    seg_a, seg_b = path[:-1, :2], path[1:, :2]
    q = feet.reshape(-1, 3)[:, None, :2]
    u = np.clip(
        np.sum((q - seg_a) * (seg_b - seg_a), axis=2) / np.sum((seg_b - seg_a) ** 2, axis=1),
        0.0,
        1.0,
    )
    dist = np.linalg.norm(q - (seg_a + u[..., None] * (seg_b - seg_a)), axis=2).min(axis=1)
    assert dist.max() < 1.0 + 0.7  # the lateral offset plus the corners' rounding
    np.testing.assert_allclose(feet[..., 2], 0.0, atol=1e-9)
    # a ray at a person now misses a little later: they have walked on
    ahead = np.diff(feet[[40, 41], 0, :2], axis=0)[0]  # t = 20 s: across its way
    towards = _horizontal(np.array([[-ahead[1], ahead[0]]]))
    origin = feet[40, 0] + [0.0, 0.0, 1.0] - 3.0 * towards[0]
    hits = people.cast(np.array([origin, origin]), np.vstack([towards, towards]), [20.0, 22.0])
    assert hits.kind[0] == PERSON and not hits.hit[1]


def test_people_are_transparent_next_to_the_operator(crowd, walk):
    t = np.arange(0.0, 60.0, 0.1)
    feet, visible = crowd.people_feet(t)
    d = np.linalg.norm(feet[..., :2] - walk.position(t)[:, None, :2], axis=2)
    assert not np.any(visible & (d < 1.2)) and np.all(visible[d > 1.21])


def _door_ray(office):
    """A ray along the corridor-side normal through the middle of the office's first door."""
    door = office.doors[0]  # the corridor | room A gap, closed along +x from its hinge
    middle = np.array(door.hinge_xyz_m) + [door.width_m / 2, 0.0, 1.0]
    return middle + [0.0, 1.5, 0.0], np.array([0.0, -1.0, 0.0]), door


def test_a_door_blocks_its_gap_when_shut_and_not_when_open(doors, office):
    origin, down, door = _door_ray(office)
    t = np.arange(2.0, 58.0, 0.05)
    opening = doors.door_opening(t)[:, 0]
    shut, wide = t[opening == 0.0], t[opening == 1.0]
    assert len(shut) and len(wide)
    times = np.array([shut[0], wide[0]])
    hits = doors.cast(np.array([origin, origin]), np.vstack([down, down]), times)
    assert hits.kind[0] == DOOR and not hits.hit[1]
    assert hits.range_m[0] == pytest.approx(1.5 - door.thickness_m / 2)
    np.testing.assert_allclose(hits.normal_world[0], [0.0, 1.0, 0.0], atol=1e-9)
    assert 0.5 <= hits.albedo[0] <= 0.7


def test_doors_are_open_while_the_operator_is_near_the_hinge(crowd, office, walk):
    t = np.arange(0.0, 60.0, 0.02)
    opening = crowd.door_opening(t)  # [T, D]
    hinges = np.array([d.hinge_xyz_m for d in office.doors])
    near = (
        np.linalg.norm(walk.position(t)[:, None, :2] - hinges[None, :, :2], axis=2) < 2.0
    )  # [T, D]
    assert near.any(axis=0).sum() >= 3  # the walk goes through several doors in a minute
    assert np.all(opening[near] == 1.0)
    assert np.all((opening >= 0.0) & (opening <= 1.0)) and (opening < 1.0).any()


def test_the_operators_body_shows_behind_the_lidar_only(crowd, walk):
    pattern = Mid360Pattern.load()
    behind, fractions = [], []
    for t0 in (10.0, 30.0, 50.0):
        t, dirs, _ = pattern.fire(int(t0 * pattern.point_rate_hz), 20_000)  # one sweep
        T = walk.pose(t)
        dirs_world = np.einsum("nij,nj->ni", T[:, :3, :3], dirs)
        hits = crowd.cast(T[:, :3, 3], dirs_world, t)
        body = hits.kind == OPERATOR
        facing = np.einsum("ij,ij->i", hits.normal_world[body], dirs_world[body])
        assert np.all(facing < 0.0) and np.all(
            (hits.albedo[body] >= 0.15) & (hits.albedo[body] <= 0.5)
        )
        fractions.append(body.mean())
        behind.append(dirs[body] * hits.range_m[body, None])  # [B, 3] in the lidar frame
    points = np.vstack(behind)
    assert 0.01 < np.mean(fractions) < 0.08  # the head and shoulders: a few per cent
    assert np.all(points[:, 0] < -0.15) and np.all(np.linalg.norm(points, axis=1) < 0.6)


def test_nothing_to_simulate_costs_nothing(office, walk):
    assert make_actors(office, walk, SceneDynamics(), False, 0) is None
    no_doors = make_scene("corridor", 0)  # doors on, but the scene has none
    track = make_trajectory(no_doors.walk_path, "static", 5.0, 0)
    assert make_actors(no_doors, track, SceneDynamics(doors=True), False, 0) is None
    empty = Actors(office, walk, SceneDynamics(), False, 0)
    assert empty.is_empty
    hits = empty.cast(np.zeros((2, 3)), np.array([[1.0, 0, 0], [0, 1.0, 0]]), np.ones(2))
    assert not hits.hit.any()


def test_the_same_seed_gives_the_same_actors(office, walk, crowd):
    pattern = Mid360Pattern.load()
    t, dirs, _ = pattern.fire(4_000_000, 20_000)
    T = walk.pose(t)
    args = (T[:, :3, 3], np.einsum("nij,nj->ni", T[:, :3, :3], dirs), t)
    again = Actors(office, walk, SceneDynamics(people=4, doors=True), True, seed=3).cast(*args)
    first = crowd.cast(*args)
    np.testing.assert_array_equal(first.range_m, again.range_m)
    np.testing.assert_array_equal(first.kind, again.kind)
    other = Actors(office, walk, SceneDynamics(people=4, doors=True), True, seed=4)
    assert not np.array_equal(other.people_feet(t[:1])[0], crowd.people_feet(t[:1])[0])
