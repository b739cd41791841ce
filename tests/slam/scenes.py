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


def yard_points(rng: np.random.Generator, size_m: float = 40.0, n_boxes: int = 60) -> np.ndarray:
    """A yard [N, 3]: a ground plane with crates of many sizes standing on it, spaced over
    size_m x size_m (centred on 0), about one point per 0.1 m of surface."""
    n_ground = int((size_m / 0.15) ** 2)
    ground = np.column_stack(
        [rng.uniform(-size_m / 2, size_m / 2, (n_ground, 2)), rng.normal(0, 0.005, n_ground)]
    )
    parts = [ground]
    for _ in range(n_boxes):
        c = np.append(rng.uniform(-size_m / 2, size_m / 2, 2), 0.0)
        h = rng.uniform([0.3, 0.3, 0.5], [2.0, 2.0, 3.0])
        yaw = rng.uniform(0, np.pi)
        n = int(400 * (h[0] * h[1] + h[2] * (h[0] + h[1])))
        local = rng.uniform(-1, 1, (n, 3)) * h
        axis = rng.integers(0, 3, n)
        sign = rng.choice([-1.0, 1.0], n)
        local[np.arange(n), axis] = sign * h[axis]
        local = local[local[:, 2] > -h[2] + 1e-6]  # no bottom face
        c_, s_ = np.cos(yaw), np.sin(yaw)
        R = np.array([[c_, -s_, 0], [s_, c_, 0], [0, 0, 1]])
        parts.append(local @ R.T + c + np.array([0, 0, h[2]]))
    return np.vstack(parts)


def pose(x: float, y: float, z: float = 0.0, yaw_rad: float = 0.0) -> np.ndarray:  # -> [4, 4]
    c, s = np.cos(yaw_rad), np.sin(yaw_rad)
    T = np.eye(4)
    T[:3, :3] = [[c, -s, 0], [s, c, 0], [0, 0, 1]]
    T[:3, 3] = x, y, z
    return T


def street_points(rng: np.random.Generator, n_crates: int = 0) -> np.ndarray:
    """A street [N, 3] 120 m along x between two 8 m facades at y = +-6, with a pilaster
    (0.8 m wide, 0.6 m deep) every 6 m on both: it looks the same one bay along. n_crates
    crates stand in the 8 m around the origin, the only thing that tells the bays apart."""
    n = 120_000
    x, u = rng.uniform(-60, 60, n), rng.uniform(0, 1, n)
    side = rng.integers(0, 3, n)  # the two facades and the ground
    y = np.where(side == 0, 6.0, np.where(side == 1, -6.0, rng.uniform(-6, 6, n)))
    parts = [np.column_stack([x, y, np.where(side == 2, 0.0, 8 * u)])]
    m = 3000
    for k in range(-10, 11):
        for wall_y, inward in ((6.0, -1.0), (-6.0, 1.0)):
            a, face = rng.uniform(0, 1, m), rng.integers(0, 3, m)  # its two sides and front
            px = np.where(face == 0, -0.4, np.where(face == 1, 0.4, 0.8 * a - 0.4)) + 6 * k
            py = wall_y + inward * 0.6 * np.where(face == 2, 1.0, a)
            parts.append(np.column_stack([px, py, 8 * rng.uniform(0, 1, m)]))
    if n_crates:
        crates = yard_points(rng, size_m=8.0, n_boxes=n_crates)
        parts.append(crates[crates[:, 2] > 0.05])  # without their ground
    points = np.vstack(parts)
    return points + rng.normal(0, 0.005, points.shape)
