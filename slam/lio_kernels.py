"""The LiDAR-inertial filter's numeric kernels, in numba: IMU integration, deskew, normal equations.

The filter (lio.py) calls these for its per-step and per-point loops: the mean and covariance
through the IMU steps of a sweep, each point through the IMU pose at its own time, and the
weighted point-to-plane rows of the iterated update; plus the degeneracy test on the
information those rows give.
"""

from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _exp(w: np.ndarray) -> np.ndarray:  # [3] rotation vector -> [3, 3]
    theta = np.sqrt(w[0] * w[0] + w[1] * w[1] + w[2] * w[2])
    K = np.array([[0.0, -w[2], w[1]], [w[2], 0.0, -w[0]], [-w[1], w[0], 0.0]])
    if theta < 1e-9:
        return np.eye(3) + K
    return np.eye(3) + np.sin(theta) / theta * K + (1 - np.cos(theta)) / theta**2 * (K @ K)


@nb.njit(cache=True)
def _integrate(
    R0: np.ndarray,  # [3, 3] R_world_imu at the first step
    p0: np.ndarray,  # [3] m, world
    v0: np.ndarray,  # [3] m/s, world
    cov0: np.ndarray,  # [15, 15]
    gyro: np.ndarray,  # [K, 3] rad/s, bias-corrected
    accel: np.ndarray,  # [K, 3] m/s^2 specific force, bias-corrected
    dt: np.ndarray,  # [K] s
    q: np.ndarray,  # [15] process noise densities
    g: np.ndarray,  # [3] m/s^2 gravity, world
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean and covariance through K IMU steps.

    -> R, p, v [K+1], acceleration [K] (world), cov [15, 15], and the transition matrix over
    all the steps [15, 15] (to carry the covariance with states the IMU leaves alone).

    gyro and accel [K, 3] hold over each step (the mean of its two readings); the specific
    force is rotated into the world at the step's middle attitude."""
    K = len(dt)
    R = np.empty((K + 1, 3, 3))
    p = np.empty((K + 1, 3))
    v = np.empty((K + 1, 3))
    acc_world = np.empty((K, 3))
    R[0], p[0], v[0] = R0, p0, v0
    cov = cov0.copy()
    F = np.eye(15)
    Phi = np.eye(15)
    for k in range(K):
        h = dt[k]
        a_world = R[k] @ (_exp(gyro[k] * (0.5 * h)) @ accel[k]) + g
        acc_world[k] = a_world
        R[k + 1] = R[k] @ _exp(gyro[k] * h)
        p[k + 1] = p[k] + v[k] * h + 0.5 * a_world * h * h
        v[k + 1] = v[k] + a_world * h
        F[:] = np.eye(15)
        F[0:3, 0:3] = _exp(-gyro[k] * h)
        F[0:3, 9:12] = -np.eye(3) * h
        F[3:6, 6:9] = np.eye(3) * h
        a = accel[k]
        ax = np.array([[0.0, -a[2], a[1]], [a[2], 0.0, -a[0]], [-a[1], a[0], 0.0]])
        F[6:9, 0:3] = -(R[k] @ ax) * h
        F[6:9, 12:15] = -R[k] * h
        cov = F @ cov @ F.T
        Phi = F @ Phi
        for i in range(15):
            cov[i, i] += q[i] * h
    return R, p, v, acc_world, cov, Phi


@nb.njit(cache=True)
def _mv(M: np.ndarray, x: float, y: float, z: float) -> tuple[float, float, float]:
    """M (x, y, z), M [3, 3]."""
    return (
        M[0, 0] * x + M[0, 1] * y + M[0, 2] * z,
        M[1, 0] * x + M[1, 1] * y + M[1, 2] * z,
        M[2, 0] * x + M[2, 1] * y + M[2, 2] * z,
    )


@nb.njit(cache=True)
def _mtv(M: np.ndarray, x: float, y: float, z: float) -> tuple[float, float, float]:
    """M^T (x, y, z), M [3, 3]."""
    return (
        M[0, 0] * x + M[1, 0] * y + M[2, 0] * z,
        M[0, 1] * x + M[1, 1] * y + M[2, 1] * z,
        M[0, 2] * x + M[1, 2] * y + M[2, 2] * z,
    )


@nb.njit(cache=True, parallel=True)
def _deskew_kernel(
    points: np.ndarray,  # [M, 3] lidar frame
    dt_s: np.ndarray,  # [M] s
    keep: np.ndarray,  # [N] int64
    t_steps_s: np.ndarray,  # [K+1] s
    R: np.ndarray,  # [K+1, 3, 3] R_world_imu at each step
    p: np.ndarray,  # [K+1, 3] m, world
    v: np.ndarray,  # [K+1, 3] m/s, world
    gyro: np.ndarray,  # [K, 3] rad/s
    acc_world: np.ndarray,  # [K, 3] m/s^2
    R_il: np.ndarray,  # [3, 3] R_imu_lidar
    t_il: np.ndarray,  # [3] the lidar's origin in the IMU frame
) -> np.ndarray:  # [N, 3]
    """Each point through the IMU pose at its own time into the lidar frame at the last step.

    points [M, 3] lidar frame and dt_s [M] their times; keep [N] the points to take; t_steps_s
    [K+1] the IMU steps' times (seconds from the same origin as dt_s). With j the step a point
    falls in and tau its time into it:
    world = R_j Exp(w_j tau) q + p_j + v_j tau + a_j tau^2 / 2, q being the point in the IMU frame.
    Exp is its series to fourth order: |w tau| stays under 0.05 rad (10 rad/s over a 5 ms step),
    where that is exact to 1e-8, and it needs no trigonometry per point.
    """
    n = keep.shape[0]
    n_steps = gyro.shape[0]
    out = np.empty((n, 3))
    R_end, p_end = R[-1], p[-1]
    for i in nb.prange(n):
        src = keep[i]
        t_i = np.float64(dt_s[src])
        lo, hi = 0, n_steps - 1  # the last step starting at or before t_i (the first if none)
        while lo < hi:
            mid = (lo + hi + 1) >> 1
            if t_steps_s[mid] <= t_i:
                lo = mid
            else:
                hi = mid - 1
        j = lo
        t = t_i - t_steps_s[j]  # may be < 0 before the first step
        qx, qy, qz = _mv(R_il, points[src, 0], points[src, 1], points[src, 2])
        qx, qy, qz = qx + t_il[0], qy + t_il[1], qz + t_il[2]
        wx, wy, wz = gyro[j, 0] * t, gyro[j, 1] * t, gyro[j, 2] * t
        th2 = wx * wx + wy * wy + wz * wz
        if th2 < 2.5e-3:
            a = 1.0 - th2 / 6.0 + th2 * th2 / 120.0  # sin(th) / th
            b = 0.5 - th2 / 24.0 + th2 * th2 / 720.0  # (1 - cos(th)) / th^2
        else:
            th = np.sqrt(th2)
            a, b = np.sin(th) / th, (1.0 - np.cos(th)) / th2
        cx, cy, cz = wy * qz - wz * qy, wz * qx - wx * qz, wx * qy - wy * qx  # w x q
        ccx, ccy, ccz = wy * cz - wz * cy, wz * cx - wx * cz, wx * cy - wy * cx  # w x (w x q)
        qx, qy, qz = qx + a * cx + b * ccx, qy + a * cy + b * ccy, qz + a * cz + b * ccz
        wx_, wy_, wz_ = _mv(R[j], qx, qy, qz)
        h = 0.5 * t * t
        wx_ += p[j, 0] + v[j, 0] * t + acc_world[j, 0] * h - p_end[0]
        wy_ += p[j, 1] + v[j, 1] * t + acc_world[j, 1] * h - p_end[1]
        wz_ += p[j, 2] + v[j, 2] * t + acc_world[j, 2] * h - p_end[2]
        ex, ey, ez = _mtv(R_end, wx_, wy_, wz_)
        out[i, 0], out[i, 1], out[i, 2] = _mtv(R_il, ex - t_il[0], ey - t_il[1], ez - t_il[2])
    return out


@nb.njit(cache=True)
def _normal_equations(
    points: np.ndarray,  # [N, 3] lidar frame
    R_il: np.ndarray,  # [3, 3] R_imu_lidar
    t_il: np.ndarray,  # [3] the lidar's origin in the IMU frame
    R: np.ndarray,  # [3, 3] R_world_imu
    p: np.ndarray,  # [3] m, world
    normal: np.ndarray,  # [N, 3] world
    offset: np.ndarray,  # [N] m
    valid: np.ndarray,  # [N] bool
    gate_m: np.ndarray,  # [N] m, each point's outlier gate
    k2: np.ndarray,  # [N] m^2, each point's robust kernel width, squared
    w_meas: float,  # 1 / m^2
    n_cols: int,  # 6, or 12 with the extrinsic
) -> tuple[np.ndarray, np.ndarray, int]:
    """The point-to-plane rows at the state, weighted and summed.

    points [N, 3] lidar frame; normal [N, 3], offset [N], valid [N] their planes. With
    q = R_il x + t_il the point in the IMU frame, the residual is r = n . (R q + p) + d, and its
    row d r / d [dtheta, dp] = [q x (R^T n), n]; with n_cols = 12 also d r / d [dphi_il, dt_il]
    = [x x (R_il^T R^T n), R^T n]. Points with |r| >= gate_m_i are outliers; the rest get
    Geman-McClure weights w_meas (k2_i / (k2_i + r^2))^2.
    -> (H^T W H [n_cols, n_cols], H^T W r [n_cols], number of inliers)
    """
    HtH = np.zeros((n_cols, n_cols))
    Htr = np.zeros(n_cols)
    h = np.empty(12)
    n_in = 0
    for i in range(points.shape[0]):
        if not valid[i]:
            continue
        nx, ny, nz = normal[i, 0], normal[i, 1], normal[i, 2]
        xx, xy, xz = points[i, 0], points[i, 1], points[i, 2]
        qx, qy, qz = _mv(R_il, xx, xy, xz)
        qx, qy, qz = qx + t_il[0], qy + t_il[1], qz + t_il[2]
        px, py, pz = _mv(R, qx, qy, qz)
        r = nx * (px + p[0]) + ny * (py + p[1]) + nz * (pz + p[2]) + offset[i]
        if abs(r) >= gate_m[i]:
            continue
        mx, my, mz = _mtv(R, nx, ny, nz)
        h[0], h[1], h[2] = qy * mz - qz * my, qz * mx - qx * mz, qx * my - qy * mx
        h[3], h[4], h[5] = nx, ny, nz
        if n_cols == 12:
            ex, ey, ez = _mtv(R_il, mx, my, mz)
            h[6], h[7], h[8] = xy * ez - xz * ey, xz * ex - xx * ez, xx * ey - xy * ex
            h[9], h[10], h[11] = mx, my, mz
        wgt = w_meas * (k2[i] / (k2[i] + r * r)) ** 2
        for a in range(n_cols):
            Htr[a] += wgt * h[a] * r
            for b in range(a, n_cols):
                HtH[a, b] += wgt * h[a] * h[b]
        n_in += 1
    for a in range(n_cols):
        for b in range(a):
            HtH[a, b] = HtH[b, a]
    return HtH, Htr, n_in


@nb.njit(cache=True)
def _log(R: np.ndarray) -> np.ndarray:  # [3, 3] -> [3] rotation vector (se3.so3_log in numba)
    c = min(max((R[0, 0] + R[1, 1] + R[2, 2] - 1.0) / 2.0, -1.0), 1.0)
    theta = np.arccos(c)
    v = np.array([R[2, 1] - R[1, 2], R[0, 2] - R[2, 0], R[1, 0] - R[0, 1]])
    if theta < 1e-6:
        return 0.5 * v
    if np.pi - theta < 1e-4:  # near pi the antisymmetric part vanishes: the symmetric part
        B = ((R + R.T) / 2.0 - c * np.eye(3)) / (1.0 - c)  # = axis axis^T
        k = int(np.argmax(np.diag(B)))
        axis = B[k] / np.sqrt(max(B[k, k], 1e-9))
        if axis @ v < 0:
            axis = -axis
        return theta * axis / np.sqrt(axis @ axis)
    return theta / (2.0 * np.sin(theta)) * v


@nb.njit(cache=True)
def _boxminus(
    R: np.ndarray,  # [3, 3]
    R_il: np.ndarray,  # [3, 3]
    vec: np.ndarray,  # [D] the state's vector entries (rotation slots unused)
    R0: np.ndarray,  # [3, 3] the other state's
    R_il0: np.ndarray,  # [3, 3]
    vec0: np.ndarray,  # [D]
) -> np.ndarray:  # [D] x [-] x0, lio_state.LioState.boxminus
    d = vec - vec0
    d[0:3] = _log(R0.T @ R)
    if len(vec) > 15:
        d[15:18] = _log(R_il0.T @ R_il)
    return d


@nb.njit(cache=True)
def _gauss_newton(
    points: np.ndarray,  # [N, 3] lidar frame
    R: np.ndarray,  # [3, 3] the state's R_world_imu, at the search
    R_il: np.ndarray,  # [3, 3]
    t_il: np.ndarray,  # [3] the lidar's origin in the IMU frame, when D = 15 (else vec[18:21])
    vec: np.ndarray,  # [D] the state's vector entries: p 3:6, v 6:9, bg, ba, (t_il 18:21)
    R0: np.ndarray,  # [3, 3] the prior's
    R_il0: np.ndarray,  # [3, 3]
    vec0: np.ndarray,  # [D]
    P_inv: np.ndarray,  # [D, D] the prior's information
    normal: np.ndarray,  # [N, 3] the planes found at the search
    offset: np.ndarray,  # [N]
    valid: np.ndarray,  # [N] bool
    gate_m: np.ndarray,  # [N]
    k2: np.ndarray,  # [N]
    w_meas: float,
    max_steps: int,
    eps: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """Up to max_steps Gauss-Newton steps of the iterated update on one search's planes.

    Each step solves (P^-1 + H^T W H) delta = -P^-1 (x [-] x0) - H^T W r over the error state
    (D = 15, or 21 with the extrinsic, whose lidar-seen entries are 0:6 and 15:21), and moves
    the state by delta, until |delta[:6]| < eps.
    -> (R, R_il, vec, H^T W H on the lidar-seen entries [C, C], number of inliers)"""
    D = len(vec)
    n_cols = 12 if D > 15 else 6
    cols = np.empty(n_cols, np.int64)
    for c in range(6):
        cols[c] = c
    for c in range(6, n_cols):
        cols[c] = c + 9
    R, R_il, vec = R.copy(), R_il.copy(), vec.copy()
    H = np.zeros((n_cols, n_cols))
    n_in = 0
    for _ in range(max_steps):
        H, g, n_in = _normal_equations(
            points,
            R_il,
            vec[18:21] if D > 15 else t_il,
            R,
            vec[3:6],
            normal,
            offset,
            valid,
            gate_m,
            k2,
            w_meas,
            n_cols,
        )
        if n_in < 6:
            break
        A = P_inv.copy()
        for a in range(n_cols):
            for b in range(n_cols):
                A[cols[a], cols[b]] += H[a, b]
        rhs = -P_inv @ _boxminus(R, R_il, vec, R0, R_il0, vec0)
        for a in range(n_cols):
            rhs[cols[a]] -= g[a]
        delta = np.linalg.solve(A, rhs)
        R = R @ _exp(delta[0:3])
        vec[3:15] += delta[3:15]
        if D > 15:
            R_il = R_il @ _exp(delta[15:18])
            vec[18:21] += delta[18:21]
        if np.sqrt(delta[0:6] @ delta[0:6]) < eps:
            break
    return R, R_il, vec, H, n_in


def weakest_translation(H: np.ndarray) -> tuple[float, np.ndarray]:  # [6, 6] -> (share, [3])
    """How weakly the lidar's information H (on [rotation, translation]) holds translation:
    the smallest eigenvalue of its Schur complement (rotation marginalised out) as a share of
    the largest, and that eigenvalue's axis (world frame). (0, zeros) when H holds nothing."""
    if not np.any(H):
        return 0.0, np.zeros(3)
    try:
        S = H[3:, 3:] - H[3:, :3] @ np.linalg.solve(H[:3, :3], H[:3, 3:])
    except np.linalg.LinAlgError:
        return 0.0, np.zeros(3)
    eig, vec = np.linalg.eigh(S)
    return float(eig[0] / eig[-1]) if eig[-1] > 0 else 0.0, vec[:, 0]
