import numpy as np

from slam.place_recognition import fingerprint, guess_3d, level, match
from slam.se3 import se3_inv, so3_exp, so3_log, transform
from tests.slam.scenes import pose, yard_points


def _seen_from(points_world, T_world_sensor, radius_m=25.0):
    near = np.linalg.norm(points_world[:, :2] - T_world_sensor[:2, 3], axis=1) < radius_m
    return transform(se3_inv(T_world_sensor), points_world[near])


def test_a_place_is_recognised_from_above_however_far_the_guess_is():
    rng = np.random.default_rng(0)
    yard = yard_points(rng, size_m=60.0, n_boxes=120)
    T_a, T_b = pose(0, 0, 1.2, 0.3), pose(4, -3, 1.2, 2.5)
    tilt = np.eye(4)
    tilt[:3, :3] = so3_exp(np.radians([4.0, -3.0, 0.0]))  # the scanner held askew
    T_b = T_b @ tilt
    L_a, L_b = level(T_a, True), level(T_b, True)
    old = fingerprint(transform(L_a, _seen_from(yard, T_a)))
    new = fingerprint(transform(L_b, _seen_from(yard, T_b)))
    M, inliers = match(old, new, 25)
    assert inliers >= 25
    truth = se3_inv(T_a) @ T_b
    guess = guess_3d(M, L_a, L_b, (L_a @ truth)[2, 3])
    err = se3_inv(truth) @ guess
    assert np.linalg.norm(err[:3, 3]) < 0.5  # a guess for the registration, from images
    assert np.degrees(np.linalg.norm(so3_log(err[:3, :3]))) < 2.0


def test_different_places_do_not_match():
    from slam.config import MappingConfig

    rng = np.random.default_rng(1)
    a = fingerprint(yard_points(rng, size_m=60.0, n_boxes=120) - [0, 0, 1.2])
    b = fingerprint(yard_points(rng, size_m=60.0, n_boxes=120) - [0, 0, 1.2])
    assert match(a, b, MappingConfig().loop_min_orb_inliers) is None


def test_the_ground_alone_leaves_no_features():
    # the scan pattern's rings on the ground are no place: only what stands on it counts
    rng = np.random.default_rng(2)
    r, phi = rng.uniform(1, 40, 200_000), rng.uniform(0, 2 * np.pi, 200_000)
    ring = np.round(r / 0.7) * 0.7  # density in rings, as a rotating lidar leaves it
    ground = np.column_stack([ring * np.cos(phi), ring * np.sin(phi), np.full_like(r, -1.4)])
    assert len(fingerprint(ground)) == 0
    assert len(fingerprint(ground + [0, 0, 1.0])) > 0  # the same rings at table height do


def test_level_keeps_the_heading_and_removes_the_tilt():
    T = pose(1, 2, 3, 0.8)
    T[:3, :3] = T[:3, :3] @ so3_exp(np.radians([5.0, 2.0, 0.0]))
    L = level(T, True)
    up_in_level = (L[:3, :3] @ T[:3, :3].T) @ np.array([0, 0, 1.0])
    np.testing.assert_allclose(up_in_level, [0, 0, 1], atol=1e-9)
    np.testing.assert_allclose(level(T, False), np.eye(4))


def test_the_view_index_names_the_view_that_shares_features():
    """A new view holding 60 of view 7's features (a bit flipped) among 440 of its own: view 7
    is voted for first; an index of no views names none."""
    from slam.place_recognition import Fingerprint, ViewIndex

    rng = np.random.default_rng(0)

    def view(descriptors: np.ndarray) -> Fingerprint:
        return Fingerprint(
            rng.uniform(-40, 40, (len(descriptors), 2)).astype(np.float32), descriptors
        )

    views = [view(rng.integers(0, 256, (500, 32), dtype=np.uint8)) for _ in range(20)]
    shared = views[7].descriptors[rng.choice(500, 60, replace=False)].copy()
    shared[:, 0] ^= 1 << rng.integers(0, 8, 60).astype(np.uint8)  # one bit off each
    new = view(np.concatenate([shared, rng.integers(0, 256, (440, 32), dtype=np.uint8)]))
    index = ViewIndex(views)
    assert index.candidates(new, most=3, min_votes=0)[0] == 7
    # each of the 440 others votes for some view: about 22 each, under 40; view 7 has 80 or so
    assert index.candidates(new, most=3, min_votes=40) == [7]
    assert ViewIndex([]).candidates(new, most=3, min_votes=1) == []
