"""Camera projections: a calibration's intrinsics (as calibrated and in gsplat's convention),
the pixel each point falls in, and a map's sparse depth seen from a camera."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from drivers.sessions.manifest import CameraCalibration


def opencv_K(cal: CameraCalibration) -> np.ndarray:  # -> [3, 3]
    """The calibration's intrinsics as calibrated (OpenCV, ROS): pixel centres at integers."""
    return np.array([[cal.fx, 0.0, cal.cx], [0.0, cal.fy, cal.cy], [0.0, 0.0, 1.0]])


def pinhole_K(cal: CameraCalibration, scale: float = 1.0) -> np.ndarray:  # -> [3, 3]
    """The calibration's intrinsics for an image resized by scale, in gsplat's convention: pixel
    (0, 0) spans [0, 1), its centre at 0.5. Calibrations (OpenCV, ROS) put that centre at 0, so
    the principal point moves by half a pixel before scaling."""
    K = opencv_K(cal)
    K[:2, 2] += 0.5
    K[:2] *= scale
    return K


def pixels(
    pc: np.ndarray,  # [N, 3] camera frame
    K: np.ndarray,  # [3, 3] gsplat's convention
    w: int,
    h: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # -> u [N], v [N] int, seen [N] bool
    """The pixel each point falls in -> (u, v, seen: in front and inside the image)."""
    z = np.where(pc[:, 2] > 0.1, pc[:, 2], np.inf)  # behind the camera: far off the image
    u = np.floor(pc[:, 0] / z * K[0, 0] + K[0, 2]).astype(np.int64)
    v = np.floor(pc[:, 1] / z * K[1, 1] + K[1, 2]).astype(np.int64)
    seen = np.isfinite(z) & (u >= 0) & (u < w) & (v >= 0) & (v < h)
    return u, v, seen


def sparse_depth(
    pc: np.ndarray,  # [N, 3] camera frame
    K: np.ndarray,  # [3, 3] gsplat's convention
    w: int,
    h: int,
) -> np.ndarray:  # -> [h, w] float32, 0 where none
    """The nearest point's depth in each pixel."""
    u, v, seen = pixels(pc, K, w, h)
    depth = np.full(h * w, np.inf, np.float32)
    np.minimum.at(depth, v[seen] * w + u[seen], pc[seen, 2].astype(np.float32))
    depth[~np.isfinite(depth)] = 0.0
    return depth.reshape(h, w)
