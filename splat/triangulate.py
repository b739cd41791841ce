"""Points for what the LiDAR never saw, triangulated from the keyframes (as Gaussian-LIC fills
its LiDAR's blind areas with visual points).

A level Mid-360 sees 7 degrees below the horizon at most, so the floor in front of a handheld
scanner is in its blind zone while the camera sees it in the bottom third of every image. A
splat initialised from the LiDAR map alone has no Gaussians there, and densification (which
clones and splits Gaussians that exist) is slow to grow any.

For each keyframe i: SIFT features, matched (Lowe's ratio test) into the keyframes i +- 2, 4
and 8, and triangulated (least squares) from every view that matched them, with the SLAM poses;
then again from the views the point reprojects into within a pixel. A point is kept if that is
its own keyframe and at least two others, with 3 degrees of parallax. One pair alone is fooled
by a repeated texture (stripes, a checker floor) along its epipolar line; three views are not.

`blind_zone_points` keeps the points whose pixel lies where the LiDAR saw nothing: no map point
projects into its 16 px cell of its keyframe, nor a neighbouring cell. The LiDAR stays the
authority wherever it saw.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import cv2
import numpy as np

from splat.camera import pixels

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TriangulateConfig:
    offsets: tuple[int, ...] = (2, 4, 8)  # keyframe i is matched with i +- each of these
    max_features: int = 8000  # SIFT features per image, at most
    contrast_threshold: float = 0.015  # SIFT's (OpenCV default 0.04): faint textures count
    ratio: float = 0.75  # Lowe's ratio test
    max_reprojection_px: float = 1.0
    min_parallax_deg: float = 3.0
    min_depth_m: float = 0.2
    max_depth_m: float = 30.0
    min_other_views: int = 2  # keyframes besides its own the point must reproject into
    coverage_cell_px: int = 16  # the LiDAR saw a pixel if a map point falls in its cell


def triangulate(
    images: list[np.ndarray],  # K x [H, W, 3] uint8 RGB, in keyframe order
    K: np.ndarray,  # [3, 3] OpenCV convention (pixel centres at integers)
    T_world_camera: np.ndarray,  # [K, 4, 4]
    cfg: TriangulateConfig = TriangulateConfig(),
) -> np.ndarray:  # -> [M, 9] xyz (world, m), rgb (0..255), keyframe, u, v (its pixel there)
    """Feature points seen consistently in several keyframes, in the world frame."""
    sift = cv2.SIFT_create(nfeatures=cfg.max_features, contrastThreshold=cfg.contrast_threshold)
    features = []  # per image: uv [F, 2], descriptors [F, 128]
    for img in images:
        kp, des = sift.detectAndCompute(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), None)
        uv = np.array([k.pt for k in kp], np.float64).reshape(-1, 2)
        features.append((uv, des if des is not None else np.zeros((0, 128), np.float32)))
    T_camera_world = np.linalg.inv(T_world_camera)
    K_inv = np.linalg.inv(K)
    matcher = cv2.BFMatcher(cv2.NORM_L2)
    steps = [s * o for o in cfg.offsets for s in (1, -1)]
    out = []
    for i, (uv_i, des_i) in enumerate(features):
        views = [i] + [i + s for s in steps if 0 <= i + s < len(features)]
        uv = np.full((len(uv_i), len(views), 2), np.nan)  # [F, V, 2] each feature in each view
        uv[:, 0] = uv_i
        for c, j in enumerate(views[1:], start=1):
            if len(des_i) >= 2 and len(features[j][1]) >= 2:
                qi, qj = _matches(matcher, des_i, features[j][1], cfg.ratio)
                uv[qi, c] = features[j][0][qj]
        X, inlier = _triangulate_tracks(uv, K, K_inv, T_camera_world[views], cfg)
        keep = inlier[:, 0] & (inlier[:, 1:].sum(1) >= cfg.min_other_views)
        keep &= _widest_parallax_deg(X, T_world_camera[views], inlier) >= cfg.min_parallax_deg
        if not keep.any():
            continue
        h, w = images[i].shape[:2]
        px = np.clip(np.round(uv_i[keep]).astype(np.int64), 0, [w - 1, h - 1])
        rgb = images[i][px[:, 1], px[:, 0]]
        out.append(np.column_stack([X[keep], rgb, np.full(keep.sum(), i), uv_i[keep]]))
    return np.concatenate(out) if out else np.zeros((0, 9))


def blind_zone_points(
    images: list[np.ndarray],  # K x [H, W, 3] uint8 RGB
    K: np.ndarray,  # [3, 3] OpenCV convention
    T_world_camera: np.ndarray,  # [K, 4, 4]
    map_xyz: np.ndarray,  # [N, 3] the LiDAR map
    cfg: TriangulateConfig = TriangulateConfig(),
) -> np.ndarray:  # -> [M, 6] xyz, rgb
    """The triangulated points that fall where the LiDAR saw nothing: in their keyframe, no map
    point projects within `coverage_cell_px` of their pixel. (A 3-D distance to the map would
    keep exactly the wrong points where the LiDAR did see: the right ones lie on its map.)"""
    pts = triangulate(images, K, T_world_camera, cfg)
    if len(pts) == 0:
        return np.zeros((0, 6))
    keep = np.ones(len(pts), bool)
    cell = cfg.coverage_cell_px
    for i in np.unique(pts[:, 6]).astype(int):
        h, w = images[i].shape[:2]
        covered = lidar_coverage(map_xyz, K, np.linalg.inv(T_world_camera[i]), w, h, cell)
        mine = np.flatnonzero(pts[:, 6] == i)
        cu = np.clip((pts[mine, 7] // cell).astype(int), 0, covered.shape[1] - 1)
        cv = np.clip((pts[mine, 8] // cell).astype(int), 0, covered.shape[0] - 1)
        keep[mine] = ~covered[cv, cu]
    log.info("triangulated %d points, %d where the LiDAR saw nothing", len(pts), keep.sum())
    return pts[keep, :6]


def lidar_coverage(
    map_xyz: np.ndarray,  # [N, 3]
    K: np.ndarray,  # [3, 3]
    T_camera_world: np.ndarray,  # [4, 4]
    w: int,
    h: int,
    cell: int,
) -> np.ndarray:  # -> [ceil(h / cell), ceil(w / cell)] bool, dilated by one cell
    """The image cells that some map point projects into (the LiDAR saw along them)."""
    K_px = K.copy()
    K_px[:2, 2] += 0.5  # pixels() floors in gsplat's convention (pixel centres at +0.5)
    pc = map_xyz @ T_camera_world[:3, :3].T + T_camera_world[:3, 3]
    u, v, seen = pixels(pc, K_px, w, h)
    grid = np.zeros((-(-h // cell), -(-w // cell)), bool)
    grid[v[seen] // cell, u[seen] // cell] = True
    return cv2.dilate(grid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0


def _matches(matcher, des_a, des_b, ratio: float) -> tuple[np.ndarray, np.ndarray]:
    """Lowe-ratio matches -> (indices into a [M], indices into b [M])."""
    pairs = [m for m in matcher.knnMatch(des_a, des_b, k=2) if len(m) == 2]
    good = [(a.queryIdx, a.trainIdx) for a, b in pairs if a.distance < ratio * b.distance]
    ij = np.array(good, dtype=np.int64).reshape(-1, 2)
    return ij[:, 0], ij[:, 1]


def _triangulate_tracks(
    uv: np.ndarray,  # [F, V, 2] pixels, NaN where a feature was not matched in a view
    K: np.ndarray,  # [3, 3]
    K_inv: np.ndarray,  # [3, 3]
    T_camera_world: np.ndarray,  # [V, 4, 4]
    cfg: TriangulateConfig,
) -> tuple[np.ndarray, np.ndarray]:  # -> X [F, 3] world, inlier [F, V] bool
    """Least-squares (DLT) points from all the views that saw each feature, then again from the
    views they reproject into within max_reprojection_px (a mismatch drops out)."""
    seen = ~np.isnan(uv[..., 0])  # [F, V]
    xn = np.einsum(
        "ij,fvj->fvi", K_inv, np.concatenate([np.nan_to_num(uv), np.ones_like(uv[..., :1])], -1)
    )
    P = T_camera_world[:, :3]  # [V, 3, 4] normalised cameras
    use = seen
    X = np.zeros((len(uv), 3))
    for _ in range(2):
        rows = (
            np.concatenate(
                [
                    xn[..., 0:1] * P[None, :, 2] - P[None, :, 0],
                    xn[..., 1:2] * P[None, :, 2] - P[None, :, 1],
                ],
                axis=1,
            )
            * np.concatenate([use, use], axis=1)[..., None]
        )  # [F, 2V, 4], unused views zeroed
        Xh = np.linalg.svd(rows)[2][:, -1]  # [F, 4]
        with np.errstate(divide="ignore", invalid="ignore"):
            X = Xh[:, :3] / Xh[:, 3:4]
        X = np.nan_to_num(X, nan=0.0, posinf=0.0, neginf=0.0)
        xc = np.einsum("vij,fj->fvi", T_camera_world[:, :3, :3], X) + T_camera_world[None, :, :3, 3]
        z = xc[..., 2]  # [F, V]
        with np.errstate(divide="ignore", invalid="ignore"):
            proj = np.einsum("ij,fvj->fvi", K, xc / z[..., None])[..., :2]
        err = np.linalg.norm(proj - uv, axis=-1)  # NaN where unseen
        use = seen & (z > cfg.min_depth_m) & (z < cfg.max_depth_m) & (err < cfg.max_reprojection_px)
    return X, use


def _widest_parallax_deg(
    X: np.ndarray,  # [F, 3]
    T_world_camera: np.ndarray,  # [V, 4, 4]
    inlier: np.ndarray,  # [F, V]
) -> np.ndarray:  # -> [F] the widest angle between the first view's ray and an inlier's
    rays = X[:, None, :] - T_world_camera[None, :, :3, 3]  # [F, V, 3]
    rays /= np.maximum(np.linalg.norm(rays, axis=-1, keepdims=True), 1e-12)
    cos = np.einsum("fj,fvj->fv", rays[:, 0], rays)
    cos = np.where(inlier, cos, 1.0)
    cos[:, 0] = 1.0
    return np.degrees(np.arccos(np.clip(cos.min(axis=1), -1.0, 1.0)))
