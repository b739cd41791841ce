"""The actors' ray casting (actors.py): numba kernels for rays against people (capsule and
head), door leaves (boxes about their hinges) and the operator's ellipsoids, each ray at its own
time, interpolated on the actors' state grid; rays binned by direction, each bin tried only
against the actors in its cone."""

from __future__ import annotations

import numba as nb
import numpy as np

NONE, PERSON, DOOR, OPERATOR = 0, 1, 2, 3  # ActorHits.kind
GRID_DT_S = 0.01  # actor states are sampled this often and interpolated per ray
T_MIN_M = 1e-6  # hits nearer than this along the ray are ignored
HEAD_RADIUS_M = 0.11
NECK_M = 0.22  # the body capsule ends this far below the top of the head
SKIN_ALBEDO = 0.3  # skin and hair


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
