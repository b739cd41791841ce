"""Synthetic geometry for the SLAM tests: boxes whose faces constrain all six degrees of freedom."""

import numpy as np

# (centre, half-size) of the boxes: the room, seen from inside, and two crates in it
BOXES = [
    (np.array([0.0, 0.0, 0.5]), np.array([6.0, 4.0, 1.5])),
    (np.array([2.0, 1.5, -0.5]), np.array([0.6, 0.4, 0.5])),
    (np.array([-2.5, -1.0, -0.3]), np.array([0.5, 0.9, 0.7])),
]


def box_surface_points(n: int, rng: np.random.Generator, noise_m: float = 0.0) -> np.ndarray:
    """n points [n, 3] spread over the faces of BOXES, in proportion to their areas."""
    faces = []  # (box, axis, sign, area)
    for c, h in BOXES:
        for axis in range(3):
            others = [a for a in range(3) if a != axis]
            area = 4 * h[others[0]] * h[others[1]]
            faces += [(c, h, axis, s, area) for s in (-1.0, 1.0)]
    areas = np.array([f[4] for f in faces])
    which = rng.choice(len(faces), n, p=areas / areas.sum())
    pts = np.empty((n, 3))
    for i, (c, h, axis, s, _) in enumerate(faces):
        sel = which == i
        p = c + rng.uniform(-1, 1, (sel.sum(), 3)) * h
        p[:, axis] = c[axis] + s * h[axis] + rng.normal(0, noise_m, sel.sum())
        pts[sel] = p
    return pts
