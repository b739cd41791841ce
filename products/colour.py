"""Colour for the map from the camera: each point takes the colour of the keyframes that see it.

For each keyframe (an image taken after the camera moved or turned enough since the last one):
the map goes into the camera frame (the trajectory interpolated at the image's time, then the
calibrated lidar-camera extrinsics), is projected with the calibrated model (OpenCV: pinhole
with plumb-bob distortion, or equidistant fisheye), and a coarse depth buffer keeps only the
points nearest the camera in each cell, so the far side of a wall never takes the colour of its
near side. A point's colour is the mean over the views that see it, weighted towards close,
central views that see its surface face-on (the angle to the normal of the plane in the
point's voxel). Points no view saw keep `coloured = False` (and a grey from their intensity).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace

import cv2
import numba as nb
import numpy as np

from drivers.frames import CameraFrame
from drivers.sessions.manifest import CameraCalibration
from drivers.sessions.trajectory import poses_at
from products.map import MapCloud
from slam.voxel_hash import voxel_keys

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ColourSettings:
    min_baseline_m: float = 0.3  # a new keyframe after this much motion ...
    min_turn_deg: float = 15.0  # ... or this much turning
    max_keyframes: int = 200
    max_range_m: float = 20.0  # points further from the camera are not coloured from it
    cell_px: int = 4  # depth-buffer cell, pixels
    depth_tolerance: float = 0.03  # relative; plus 2 cm: visible if z <= nearest * (1 + tol)


def camera_poses(
    t_img_s: np.ndarray, t_traj_s: np.ndarray, T_world_lidar: np.ndarray, T_lidar_camera: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:  # [K], [N], [N, 4, 4], [4, 4] -> (keep [K] bool, [k, 4, 4])
    """T_world_camera at the image times inside the trajectory (slerp and linear; poses out of
    time order passed over: trajectory.poses_at)."""
    keep, T = poses_at(t_img_s, t_traj_s, T_world_lidar)
    return keep, T @ T_lidar_camera


def select_keyframes(T_world_camera: np.ndarray, s: ColourSettings) -> list[int]:  # [K, 4, 4]
    chosen: list[int] = []
    for i, T in enumerate(T_world_camera):  # per image, not per point
        if chosen:
            last = T_world_camera[chosen[-1]]
            moved = np.linalg.norm(T[:3, 3] - last[:3, 3])
            cos = (np.trace(last[:3, :3].T @ T[:3, :3]) - 1) / 2
            turned = np.degrees(np.arccos(np.clip(cos, -1, 1)))
            if moved < s.min_baseline_m and turned < s.min_turn_deg:
                continue
        chosen.append(i)
    if len(chosen) > s.max_keyframes:
        chosen = [chosen[i] for i in np.linspace(0, len(chosen) - 1, s.max_keyframes).astype(int)]
    return chosen


def project(points_cam: np.ndarray, cal: CameraCalibration) -> np.ndarray:  # [N, 3] -> [N, 2]
    """Pixels of camera-frame points (z > 0): OpenCV's pinhole with plumb-bob distortion
    (k1 k2 p1 p2 k3) or its equidistant fisheye (k1..k4), written out in numpy (cv2's
    projectPoints costs ~0.2 us a point, ten times this)."""
    x, y, z = points_cam[:, 0], points_cam[:, 1], points_cam[:, 2]
    if cal.model == "fisheye":
        k1, k2, k3, k4 = (list(cal.distortion) + [0.0] * 4)[:4]
        r = np.hypot(x, y)
        theta = np.arctan2(r, z)
        t2 = theta * theta
        theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
        scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-12), 1.0 / z)
        xd, yd = x * scale, y * scale
    else:
        k1, k2, p1, p2, k3 = (list(cal.distortion) + [0.0] * 5)[:5]
        a, b = x / z, y / z
        r2 = a * a + b * b
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
        yd = b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
    return np.column_stack([cal.fx * xd + cal.cx, cal.fy * yd + cal.cy])


def voxel_normals(xyz: np.ndarray, voxel_m: float = 0.25) -> np.ndarray:  # [N, 3] -> [N, 3]
    """A surface normal per point: the plane of the points in its voxel (the eigenvector of
    their covariance with the least eigenvalue), from bincount sums, so O(N). Zero where the
    voxel holds fewer than 5 points or no plane."""
    _, inv = np.unique(voxel_keys(xyz, voxel_m), return_inverse=True)
    inv = inv.ravel()
    n_vox = int(inv.max()) + 1
    count = np.bincount(inv, minlength=n_vox).astype(np.float64)
    c = xyz - xyz.mean(axis=0)
    mean = np.column_stack([np.bincount(inv, c[:, i], n_vox) for i in range(3)]) / count[:, None]
    cov = np.empty((n_vox, 3, 3))
    for i in range(3):  # 6 sums over points, not a loop over them
        for j in range(i, 3):
            cov[:, i, j] = cov[:, j, i] = (
                np.bincount(inv, c[:, i] * c[:, j], n_vox) / count - mean[:, i] * mean[:, j]
            )
    evals, evecs = np.linalg.eigh(cov)
    normal = evecs[:, :, 0]
    flat = (count >= 5) & (evals[:, 0] < 0.1 * evals[:, 1])
    normal[~flat] = 0.0
    return normal[inv]


@nb.njit(cache=True)
def _nearest_in_cell(cell, z, n_cells):  # [M], [M] -> [n_cells] min depth
    zmin = np.full(n_cells, np.inf)
    for i in range(cell.shape[0]):
        if z[i] < zmin[cell[i]]:
            zmin[cell[i]] = z[i]
    return zmin


def colourise(
    cloud: MapCloud,
    images: Iterable[CameraFrame],
    cal: CameraCalibration,
    t_traj_s: np.ndarray,  # [N]
    T_world_lidar: np.ndarray,  # [N, 4, 4]
    settings: ColourSettings | None = None,
) -> MapCloud:
    s = settings or ColourSettings()
    frames = list(images)
    n = len(cloud)
    if not frames or n == 0 or len(t_traj_s) < 2:
        return cloud
    keep, T_wc = camera_poses(
        np.array([f.t_s for f in frames]), t_traj_s, T_world_lidar, np.array(cal.T_lidar_camera)
    )
    frames = [f for f, k in zip(frames, keep, strict=True) if k]
    keys = select_keyframes(T_wc, s)
    rgb_sum = np.zeros((n, 3))
    w_sum = np.zeros(n)
    cw, ch = -(-cal.width // s.cell_px), -(-cal.height // s.cell_px)
    half_diag = float(np.hypot(cal.width, cal.height)) / 2
    origin = cloud.xyz_m.mean(axis=0)  # float32 relative to the map's centre keeps 0.1 mm
    xyz = (cloud.xyz_m - origin).astype(np.float32)
    normals = voxel_normals(cloud.xyz_m).astype(np.float32)  # for the viewing angle
    fisheye = cal.model == "fisheye"
    dist = np.zeros(5)
    dist[: len(cal.distortion)] = list(cal.distortion)[:5]
    lens = np.array([cal.fx, cal.fy, cal.cx, cal.cy, cal.width, cal.height, half_diag])
    buffers = np.empty(n, np.int64), np.empty((n, 4)), np.empty(cw * ch)  # reused per keyframe
    starts, ends, lo, hi = _runs(xyz, RUN_CELL_M)  # the map comes tile after tile
    if len(starts) > n // 1000 + 1:  # not grouped in space: every view walks every point
        starts, ends = np.array([0]), np.array([n])
        lo, hi = xyz.min(axis=0, keepdims=True), xyz.max(axis=0, keepdims=True)
    for k in keys:
        img = cv2.imdecode(np.frombuffer(frames[k].jpeg, np.uint8), cv2.IMREAD_COLOR)
        if img is None or img.shape[1] != cal.width or img.shape[0] != cal.height:
            log.warning("image at %.3f s unreadable or of the wrong size: skipped", frames[k].t_s)
            continue
        T = T_wc[k]
        c = (T[:3, 3] - origin).astype(np.float32)
        gap = np.maximum(np.maximum(lo - c, c - hi), 0.0)  # camera -> each run's box
        near = (gap**2).sum(axis=1) < s.max_range_m**2
        _colour_from_view(
            starts[near], ends[near], xyz, normals, T[:3, :3].astype(np.float32), c,
            img, lens, dist, fisheye, s.max_range_m, s.cell_px, cw, s.depth_tolerance,
            rgb_sum, w_sum, *buffers,
        )  # fmt: skip
    coloured = w_sum > 0
    grey = np.clip(cloud.intensity, 0, 255).astype(np.uint8)
    rgb = np.repeat(grey[:, None], 3, axis=1)
    rgb[coloured] = np.clip(rgb_sum[coloured] / w_sum[coloured, None], 0, 255).round()
    log.info("coloured %d of %d points from %d keyframes", coloured.sum(), n, len(keys))
    return replace(cloud, rgb=rgb.astype(np.uint8), coloured=coloured)


@nb.njit(cache=True, inline="always")
def _pixel(x, y, z, lens, dist, fisheye):  # a camera-frame point (z > 0) -> u, v
    """`project`'s lens models for one point."""
    if fisheye:
        r = np.hypot(x, y)
        theta = np.arctan2(r, z)
        t2 = theta * theta
        theta_d = theta * (1 + t2 * (dist[0] + t2 * (dist[1] + t2 * (dist[2] + t2 * dist[3]))))
        scale = theta_d / max(r, 1e-12) if r > 1e-12 else 1.0 / z
        xd, yd = x * scale, y * scale
    else:
        k1, k2, p1, p2, k3 = dist[0], dist[1], dist[2], dist[3], dist[4]
        a, b = x / z, y / z
        r2 = a * a + b * b
        radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
        yd = b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
    return lens[0] * xd + lens[2], lens[1] * yd + lens[3]


RUN_CELL_M = 12.5  # the map's tiles (products/map.py TILE_M)


@nb.njit(cache=True)
def _runs(xyz, cell_m):  # [N, 3] -> starts [S], ends [S], lo [S, 3], hi [S, 3]
    """The runs of consecutive points in the same cell_m square (a map written tile after tile
    has one per tile), with their bounding boxes: a view reads only the runs within its range."""
    n = xyz.shape[0]
    starts, ends = [0], [0]
    lo, hi = [xyz[0].copy()], [xyz[0].copy()]
    cx, cy = np.floor(xyz[0, 0] / cell_m), np.floor(xyz[0, 1] / cell_m)
    for p in range(n):
        px, py = np.floor(xyz[p, 0] / cell_m), np.floor(xyz[p, 1] / cell_m)
        if px != cx or py != cy:
            ends[-1] = p
            starts.append(p)
            ends.append(p)
            lo.append(xyz[p].copy())
            hi.append(xyz[p].copy())
            cx, cy = px, py
        for a in range(3):
            lo[-1][a] = min(lo[-1][a], xyz[p, a])
            hi[-1][a] = max(hi[-1][a], xyz[p, a])
    ends[-1] = n
    s = len(starts)
    lo_a, hi_a = np.empty((s, 3), np.float32), np.empty((s, 3), np.float32)
    for i in range(s):
        lo_a[i], hi_a[i] = lo[i], hi[i]
    return np.array(starts), np.array(ends), lo_a, hi_a


@nb.njit(cache=True, nogil=True)
def _colour_from_view(
    run_starts,  # [S] int64: the runs of points within range of the view
    run_ends,  # [S]
    xyz,  # [N, 3] float32, map points relative to `origin`
    normals,  # [N, 3] float32, zero where no plane
    R,  # [3, 3] float32 camera axes in the world
    t,  # [3] float32 camera centre relative to `origin`
    img,  # [H, W, 3] uint8 BGR
    lens,  # fx fy cx cy width height half-diagonal
    dist,  # [5] distortion (plumb-bob k1 k2 p1 p2 k3, or fisheye k1..k4)
    fisheye,
    max_range_m,
    cell_px,
    cells_per_row,
    depth_tolerance,
    rgb_sum,  # [N, 3] float64, accumulated
    w_sum,  # [N] float64, accumulated
    idx,  # [N] int64 scratch
    cand,  # [N, 4] float64 scratch: u, v, range, cell
    zmin,  # [cells] float64 scratch
):
    """One keyframe's colour into the sums, in two passes over the map: cull to the points
    in front and in range, project them and keep the nearest range per depth-buffer cell;
    then every candidate no farther than its cell's nearest (with the tolerance) takes the
    pixel's colour, weighted towards close, central, face-on views."""
    zmin[:] = np.inf
    width, height, half_diag = lens[4], lens[5], lens[6]
    m = 0
    for r in range(len(run_starts)):
        for p in range(run_starts[r], run_ends[r]):
            dx, dy, dz = xyz[p, 0] - t[0], xyz[p, 1] - t[1], xyz[p, 2] - t[2]
            zc = dx * R[0, 2] + dy * R[1, 2] + dz * R[2, 2]  # depth along the optical axis
            if zc <= 0.1 or zc >= max_range_m:
                continue
            xc = np.float64(dx * R[0, 0] + dy * R[1, 0] + dz * R[2, 0])
            yc = np.float64(dx * R[0, 1] + dy * R[1, 1] + dz * R[2, 1])
            zc = np.float64(zc)
            rng2 = xc * xc + yc * yc + zc * zc
            if rng2 >= max_range_m * max_range_m:
                continue
            u, v = _pixel(xc, yc, zc, lens, dist, fisheye)
            if not (u >= 0 and u < width - 0.5 and v >= 0 and v < height - 0.5):
                continue
            rng = np.sqrt(rng2)
            col, row = np.int64(np.rint(u)), np.int64(np.rint(v))
            cell = (row // cell_px) * cells_per_row + col // cell_px
            if rng < zmin[cell]:
                zmin[cell] = rng
            idx[m] = p
            cand[m, 0], cand[m, 1], cand[m, 2], cand[m, 3] = u, v, rng, cell
            m += 1
    for j in range(m):
        p = idx[j]
        u, v, rng, cell = cand[j, 0], cand[j, 1], cand[j, 2], np.int64(cand[j, 3])
        if rng > zmin[cell] * (1.0 + depth_tolerance) + 0.02:
            continue  # behind the surface this cell sees
        radial = 1.0 - 0.5 * np.hypot(u - lens[2], v - lens[3]) / half_diag
        nx, ny, nz = normals[p, 0], normals[p, 1], normals[p, 2]
        cos = 1.0  # no plane: no preference
        if nx != 0 or ny != 0 or nz != 0:
            r = max(rng, 1e-6)
            cos = (
                abs(nx * (xyz[p, 0] - t[0]) + ny * (xyz[p, 1] - t[1]) + nz * (xyz[p, 2] - t[2])) / r
            )
        w = radial * max(cos, 0.1) ** 2 / max(rng, 0.5) ** 2
        col, row = np.int64(np.rint(u)), np.int64(np.rint(v))
        w_sum[p] += w
        rgb_sum[p, 0] += w * img[row, col, 2]  # BGR -> RGB
        rgb_sum[p, 1] += w * img[row, col, 1]
        rgb_sum[p, 2] += w * img[row, col, 0]
