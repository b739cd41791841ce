"""A person who walks through the scan leaves no ghost; the room stays whole."""

import numpy as np

from products.dynamic import static_mask


def sweep_of_room(rng, person: bool, n: int = 20000):
    """Rays from the origin to a 10 x 10 x 3 m room's walls (and a person at x = 2.5 m)."""
    d = rng.normal(size=(n, 3))
    d[:, 2] *= 0.3
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    t = np.min(np.abs(np.array([5.0, 5.0, 1.5]) / np.where(d == 0, 1e-9, d)), axis=1)
    end = d * t[:, None]
    if person:  # a 0.5 x 0.5 x 1.8 m box in front of the +x wall
        tx = np.where(d[:, 0] > 0, 2.5 / np.maximum(d[:, 0], 1e-9), np.inf)
        p = d * tx[:, None]
        inside = (abs(p[:, 1]) < 0.25) & (p[:, 2] > -1.5) & (p[:, 2] < 0.3) & (tx < t)
        end[inside] = p[inside]
    return end


def test_a_passer_by_is_removed_and_the_room_kept():
    rng = np.random.default_rng(0)
    ends = [sweep_of_room(rng, person=k < 3) for k in range(30)]  # there for 3 of 30 sweeps
    ray_ends = np.concatenate(ends)
    origins = np.zeros_like(ray_ends)
    xyz = ray_ends
    keep = static_mask(xyz, origins, ray_ends, voxel_m=0.1)
    at_person = (abs(xyz[:, 0] - 2.5) < 0.05) & (abs(xyz[:, 1]) < 0.25)
    ghost = at_person & (xyz[:, 2] > -1.3) & (xyz[:, 2] < 0.35)  # its feet share the floor's voxels
    wall = ~at_person
    assert ghost.sum() > 100
    assert keep[ghost].mean() < 0.05  # the person is gone
    assert keep[wall].mean() > 0.995  # the room is whole


def test_nothing_moves_in_a_static_room():
    rng = np.random.default_rng(1)
    ray_ends = np.concatenate([sweep_of_room(rng, person=False) for _ in range(10)])
    keep = static_mask(ray_ends, np.zeros_like(ray_ends), ray_ends)
    assert keep.mean() > 0.995
