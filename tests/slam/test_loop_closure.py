import numpy as np

from slam.config import MappingConfig
from slam.loop_closure import LoopClosure, Rejection, candidates, relative, verify
from slam.se3 import se3_inv, so3_log, transform
from tests.slam.scenes import pose, street_points, yard_points

CFG = MappingConfig()
UP = np.array([0.0, 0.0, 1.0])


def _seen_from(points_world, T_world_sensor, radius_m=15.0):  # -> [M, 3] in the sensor frame
    near = np.linalg.norm(points_world[:, :2] - T_world_sensor[:2, 3], axis=1) < radius_m
    return transform(se3_inv(T_world_sensor), points_world[near])


def test_a_true_loop_is_found_from_a_drifted_guess():
    rng = np.random.default_rng(0)
    yard = yard_points(rng)
    T_a, T_b = pose(0, 0, 1.2, 0.3), pose(3, 1, 1.2, 2.0)  # the same place, another heading
    truth = relative(T_a, T_b)
    drift = pose(0.4, -0.3, 0.1, np.radians(1.5))
    found = verify(CFG, 0, 9, _seen_from(yard, T_a), _seen_from(yard, T_b), truth @ drift, 60.0, UP)
    assert isinstance(found, LoopClosure), found
    err = se3_inv(truth) @ found.T_i_j
    assert np.linalg.norm(err[:3, 3]) < 0.03
    assert np.degrees(np.linalg.norm(so3_log(err[:3, :3]))) < 0.3
    assert found.overlap > 0.6 and found.rmse_m < 0.05
    assert 0.3 < found.correction_m < 0.7


def test_a_corridor_that_slides_along_itself_is_refused():
    rng = np.random.default_rng(1)
    n = 60_000
    x = rng.uniform(-40, 40, n)
    side = rng.integers(0, 4, n)  # two walls, floor, ceiling: nothing along x
    u = rng.uniform(-1, 1, n)
    y = np.where(side == 0, -1.0, np.where(side == 1, 1.0, u))
    z = np.where(side == 2, 0.0, np.where(side == 3, 2.5, 1.25 + 1.25 * u))
    corridor = np.column_stack([x, y, z]) + rng.normal(0, 0.005, (n, 3))
    T_a, T_b = pose(0, 0, 1.2), pose(2, 0, 1.2)
    found = verify(
        CFG,
        0,
        9,
        _seen_from(corridor, T_a, 30),
        _seen_from(corridor, T_b, 30),
        relative(T_a, T_b) @ pose(1.0, 0, 0),
        60.0,
        UP,
    )
    assert isinstance(found, Rejection) and "ill-conditioned" in found.reason


def test_a_fit_one_bay_along_a_repetitive_facade_is_moved_to_the_place_that_fits_best():
    """The guess is 5.5 m off along a street whose pilasters repeat every 6 m: GICP fits the
    facade one bay along, and every test of the fit passes. From above, the true place fits
    better (the crates), and the registration is tried again from there."""
    street = street_points(np.random.default_rng(3), n_crates=8)
    T_a, T_b = pose(0, 0, 1.2, 0.2), pose(1, 0.5, 1.2, 3.0)
    truth = relative(T_a, T_b)
    args = (0, 9, _seen_from(street, T_a, 25), _seen_from(street, T_b, 25))
    guess = pose(5.5, 0, 0) @ truth
    blind = verify(MappingConfig(loop_max_ambiguity=100.0), *args, guess, 30.0, UP)
    assert isinstance(blind, LoopClosure)  # without the test: a loop one bay along
    assert np.linalg.norm((se3_inv(truth) @ blind.T_i_j)[:3, 3]) > 5.0
    found = verify(CFG, *args, guess, 30.0, UP)
    assert isinstance(found, LoopClosure), found
    assert np.linalg.norm((se3_inv(truth) @ found.T_i_j)[:3, 3]) < 0.03
    assert found.correction_m > 5.0  # from the guess


def test_a_facade_with_nothing_to_tell_its_bays_apart_is_refused():
    street = street_points(np.random.default_rng(3))
    T_a, T_b = pose(0, 0, 1.2, 0.2), pose(1, 0.5, 1.2, 3.0)
    found = verify(
        CFG, 0, 9, _seen_from(street, T_a, 25), _seen_from(street, T_b, 25),
        pose(5.5, 0, 0) @ relative(T_a, T_b), 30.0, UP,
    )  # fmt: skip
    assert isinstance(found, Rejection)


def test_a_look_alike_room_on_another_floor_is_refused():
    rng = np.random.default_rng(2)
    room = yard_points(rng, size_m=12.0, n_boxes=10)
    room = room[np.linalg.norm(room[:, :2], axis=1) < 6]
    # the old submap saw the ground floor's room; the new one is the same room a storey up,
    # which the odometry puts 1 m too low: registration pulls it down onto the old floor
    T_a, T_b = pose(0, 0, 1.2), pose(0.5, 0.2, 1.2 + 3.0)
    guess = relative(T_a, T_b) @ pose(0, 0, -1.0)
    found = verify(CFG, 0, 9, _seen_from(room, T_a), _seen_from(room, pose(0.5, 0.2, 1.2)),
                   guess, 60.0, UP)  # fmt: skip
    assert isinstance(found, Rejection), found
    assert "another floor" in found.reason


def test_a_fit_that_tilts_against_gravity_is_refused_when_levelled():
    from scipy.spatial.transform import Rotation

    rng = np.random.default_rng(0)
    yard = yard_points(rng)
    T_a, T_b = pose(0, 0, 1.2, 0.3), pose(3, 1, 1.2, 2.0)
    # the new submap's points fit the old ones only when tilted 3 degrees: gravity says its
    # roll and pitch are right, so it is another place that looks alike
    tilt = np.eye(4)
    tilt[:3, :3] = Rotation.from_euler("x", 3.0, degrees=True).as_matrix()
    source = transform(tilt, _seen_from(yard, T_b))
    guess = relative(T_a, T_b)

    levelled = verify(CFG, 0, 9, _seen_from(yard, T_a), source, guess, 60.0, UP, levelled=True)
    free = verify(CFG, 0, 9, _seen_from(yard, T_a), source, guess, 60.0, UP, levelled=False)

    assert isinstance(levelled, Rejection) and "tilted" in levelled.reason, levelled
    assert isinstance(free, LoopClosure), free  # lidar-only: a tilt is drift to correct


def test_candidates_are_near_in_space_far_in_path_and_nearest_first():
    anchors = np.array([pose(x, 0) for x in (0.0, 5.0, 10.0, 2.0, 40.0, 1.0)])
    path = np.array([0.0, 5.0, 10.0, 50.0, 90.0, 130.0])
    assert candidates(CFG, anchors, path, 5) == [0, 3, 1]  # 4 is 39 m away; nearest first
    assert candidates(CFG, anchors, path, 3) == [0, 1]  # 2 is 8 m away after 40 m of path
    assert candidates(CFG, anchors, path, 1) == []  # 5 m of path: the odometry's own


def test_the_search_radius_grows_with_the_path_up_to_a_cap():
    from slam.loop_closure import search_radius_m

    assert search_radius_m(CFG, 0.0) == CFG.loop_radius_m
    assert search_radius_m(CFG, 100.0) > search_radius_m(CFG, 50.0) > CFG.loop_radius_m
    assert search_radius_m(CFG, 1e6) == CFG.loop_max_radius_m
