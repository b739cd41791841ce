"""Loop candidates by appearance, for drift too large for the search by position.

In the style of MapClosures (Gupta et al., ICRA 2024): each submap, with the two before it, is
seen from above as a density image (points per 0.5 m cell, in the anchor's frame levelled by
gravity) of what stands above the ground (from 1 m below the scanner to 4 m above it: the
ground itself is seen everywhere, and its density shows the scan pattern's rings, not the
place), ORB features are found in it (opencv), and a new submap's features are matched
against every earlier one's. A 2-D rigid motion (x, y, yaw) fitted by RANSAC to the matches is
the guess of where the new submap lies in the old one; the verification by registration
(slam/loop_closure.py) decides. The images need no pose: they find a place however far the
odometry has drifted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from slam.se3 import rot_z, se3_inv, transform

BEV_CELL_M = 0.5
BEV_HALF_M = 40.0  # the image covers +-40 m around the anchor
# the slice of heights seen, relative to the anchor (the scanner, held 1.2-1.6 m above the
# ground). On the campus twin, 27 revisiting submaps had a true match of 15+ inliers with the
# slice, 15 with every height: the density of the ground, seen everywhere, dilutes the walls
BEV_MIN_Z_M = -1.0
BEV_MAX_Z_M = 4.0
ORB_FEATURES = 500
MAX_SCALE_ERROR = 0.05  # the fitted similarity must be a rigid motion


@dataclass(frozen=True)
class Fingerprint:
    """A submap's view from above: ORB keypoints in metres (levelled anchor frame) and their
    descriptors."""

    xy_m: np.ndarray  # [F, 2] float32
    descriptors: np.ndarray  # [F, 32] uint8

    def __len__(self) -> int:
        return len(self.xy_m)


@dataclass(frozen=True)
class PlaceMatch:
    i: int  # the old submap
    T_i_j_guess: np.ndarray  # [4, 4] the new submap's anchor in the old one's
    inliers: int  # RANSAC inliers among the ORB matches


def level(T_world_anchor: np.ndarray, levelled: bool) -> np.ndarray:  # -> [4, 4]
    """The anchor's frame turned so that z is up (its yaw kept): T_level_anchor."""
    T = np.eye(4)
    if levelled:
        R = T_world_anchor[:3, :3]
        yaw = np.arctan2(R[1, 0], R[0, 0])
        T[:3, :3] = rot_z(-yaw)[:3, :3] @ R
    return T


def fingerprint(points_level_m: np.ndarray) -> Fingerprint:  # [N, 3] levelled anchor frame
    """ORB features of the density image of the points above the ground, seen from above."""
    import cv2

    z = points_level_m[:, 2]
    points_level_m = points_level_m[(z > BEV_MIN_Z_M) & (z < BEV_MAX_Z_M)]
    n = int(2 * BEV_HALF_M / BEV_CELL_M)
    ij = np.floor((points_level_m[:, :2] + BEV_HALF_M) / BEV_CELL_M).astype(np.int64)
    ok = (ij >= 0).all(axis=1) & (ij < n).all(axis=1)
    counts = np.bincount(ij[ok, 0] * n + ij[ok, 1], minlength=n * n).reshape(n, n)
    top = np.percentile(counts[counts > 0], 98) if (counts > 0).any() else 1.0
    img = (255.0 * np.minimum(counts / max(top, 1.0), 1.0)).astype(np.uint8)
    orb = cv2.ORB_create(nfeatures=ORB_FEATURES, edgeThreshold=15, patchSize=15, fastThreshold=5)
    keypoints, descriptors = orb.detectAndCompute(img, None)
    if descriptors is None or not keypoints:
        return Fingerprint(np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8))
    # opencv's (x, y) is (column, row) = (index 1, index 0) of the image
    rc = np.array([(kp.pt[1], kp.pt[0]) for kp in keypoints], np.float32)
    xy = (rc + 0.5) * BEV_CELL_M - BEV_HALF_M
    return Fingerprint(xy.astype(np.float32), descriptors)


def view_from_above(
    T_world_anchor: np.ndarray,  # [K, 4, 4] the scan's anchors
    coarse_of: Callable[[int], np.ndarray],  # k -> [C, 3] submap k's coarse cloud, k's frame
    j: int,
    levelled: bool,
) -> Fingerprint:
    """Submap j with the two before it, from above, in j's levelled frame."""
    T_level_j = level(T_world_anchor[j], levelled) @ se3_inv(T_world_anchor[j])
    near = [n for n in (j - 2, j - 1, j) if n >= 0]
    parts = [transform(T_level_j @ T_world_anchor[n], coarse_of(n)) for n in near]
    return fingerprint(np.concatenate(parts))


def match(old: Fingerprint, new: Fingerprint, min_inliers: int) -> tuple[np.ndarray, int] | None:
    """The 2-D rigid motion [3, 3] taking the new image's metres into the old one's, and its
    RANSAC inliers; None when fewer than min_inliers agree."""
    import cv2

    if len(old) < min_inliers or len(new) < min_inliers:
        return None
    matches = cv2.BFMatcher(cv2.NORM_HAMMING, crossCheck=True).match(
        new.descriptors, old.descriptors
    )
    if len(matches) < min_inliers:
        return None
    src = np.array([new.xy_m[m.queryIdx] for m in matches], np.float32)
    dst = np.array([old.xy_m[m.trainIdx] for m in matches], np.float32)
    A, mask = cv2.estimateAffinePartial2D(
        src, dst, method=cv2.RANSAC, ransacReprojThreshold=2 * BEV_CELL_M, maxIters=2000,
        confidence=0.999,
    )  # fmt: skip
    if A is None:
        return None
    inliers = int(mask.sum())
    scale = float(np.hypot(A[0, 0], A[1, 0]))
    if inliers < min_inliers or abs(scale - 1.0) > MAX_SCALE_ERROR:
        return None
    M = np.eye(3)
    M[:2, :2] = A[:, :2] / scale
    M[:2, 2] = A[:, 2]
    return M, inliers


class ViewIndex:
    """Many submaps' views from above in one descriptor index: which of them may show a new
    view's place, by votes (each of the new view's features votes for the view holding its
    nearest descriptor), so that only the few most voted are matched and fitted (`match`), not
    every one. (Lowe's ratio test throws the true votes away here: the density images repeat
    themselves. On the campus twin, a 2-minute scan's submaps against a 30-minute one's 206:
    the submap that `match` fits best was among the 3 most voted for each of the 15.)"""

    def __init__(self, views: list[Fingerprint]) -> None:
        import cv2

        self.n = len(views)
        self.owner = np.concatenate(  # [D] the view of each descriptor
            [np.full(len(v), k, np.int64) for k, v in enumerate(views)] or [np.zeros(0, np.int64)]
        )
        self.matcher = cv2.BFMatcher(cv2.NORM_HAMMING)
        if len(self.owner):
            self.matcher.add([np.concatenate([v.descriptors for v in views if len(v)])])
            self.matcher.train()

    def candidates(self, new: Fingerprint, most: int, min_votes: int) -> list[int]:
        """The views with the most votes from the new one's features (at least min_votes), the
        most voted first, at most `most` of them."""
        if len(new) == 0 or len(self.owner) == 0:
            return []
        nearest = [m.trainIdx for m in self.matcher.match(new.descriptors)]
        votes = np.bincount(self.owner[nearest], minlength=self.n)
        order = np.argsort(-votes, kind="stable")[:most]
        return [int(k) for k in order if votes[k] >= min_votes]


def guess_3d(
    M: np.ndarray,  # [3, 3] 2-D rigid, new levelled frame -> old levelled frame
    T_level_i: np.ndarray,  # [4, 4]
    T_level_j: np.ndarray,  # [4, 4]
    dz_m: float,  # the new anchor's height in the old one's levelled frame
) -> np.ndarray:  # -> [4, 4] T_i_j
    T2 = np.eye(4)
    T2[:2, :2], T2[:2, 3], T2[2, 3] = M[:2, :2], M[:2, 2], dz_m
    return np.linalg.inv(T_level_i) @ T2 @ T_level_j
