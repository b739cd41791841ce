"""Trajectory and map-quality metrics.

ATE (absolute trajectory error)
    The estimated poses are associated with the reference poses by time (nearest stamp within
    ``max_dt_s``), rigidly aligned to them with the SE(3) Umeyama fit (no scale), and the
    translation errors of the matched poses give the RMSE and the maximum, in metres. Computed
    with the ``evo`` library (optional ``bench`` dependency).

Map sharpness (needs no ground truth)
    The scans are transformed into the world with the poses under test and merged into one
    map; misregistered poses smear surfaces, which makes the map thicker and its entropy higher.
    For ``n_samples`` random map points, the neighbours within ``radius_m`` (the point itself
    included) give a sample covariance Sigma (ddof=1):

    * local plane thickness = sqrt(smallest eigenvalue of Sigma), the standard deviation of the
      neighbourhood along its normal; the median over the samples is reported;
    * map entropy = 0.5 * ln(det(2*pi*e*Sigma)), the differential entropy of a Gaussian with
      that covariance; the mean over the samples is the Mean Map Entropy (MME) of
      Razlaff et al. Lower (more negative) is sharper.

    Neighbourhoods with fewer than ``min_neighbors`` points are skipped (and so is a degenerate
    Sigma, det <= 0, for the entropy). With the defaults (every 2nd scan, every 4th point,
    0.3 m, 20k samples, min_neighbors=10, seed=0) the reference poses of the BALM data give
    1.72 cm and -3.59, as in its README.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import cKDTree

log = logging.getLogger(__name__)

_CHUNK = 4096  # sample points per neighbour query, bounds the memory of the flat neighbour lists


@dataclass(frozen=True)
class AteResult:
    rmse_m: float
    max_m: float
    n_matched: int


@dataclass(frozen=True)
class SharpnessResult:
    plane_thickness_median_m: float
    entropy_mean: float
    n_samples: int  # samples with enough neighbours


def ate_rmse(
    t_est_s: np.ndarray,  # [N]
    T_world_est: np.ndarray,  # [N, 4, 4]
    t_ref_s: np.ndarray,  # [M]
    T_world_ref: np.ndarray,  # [M, 4, 4]
    max_dt_s: float = 0.01,
) -> AteResult:
    """Translation ATE of an estimate against a reference after SE(3) Umeyama alignment."""
    from evo.core import metrics, sync
    from evo.core.trajectory import PoseTrajectory3D

    def traj(t_s: np.ndarray, T: np.ndarray) -> PoseTrajectory3D:
        T = np.array(T, dtype=np.float64, copy=True)  # evo works in place: never on the caller's
        if T.ndim != 3 or T.shape[1:] != (4, 4) or len(T) != len(t_s):
            raise ValueError(f"need t [N] and T [N, 4, 4], got {np.shape(t_s)} and {T.shape}")
        return PoseTrajectory3D(poses_se3=list(T), timestamps=np.array(t_s, dtype=np.float64))

    ref, est = sync.associate_trajectories(
        traj(t_ref_s, T_world_ref), traj(t_est_s, T_world_est), max_diff=max_dt_s
    )
    try:
        est.align(ref, correct_scale=False)
    except Exception as exc:  # a trajectory that barely moves has no unique alignment
        log.warning(
            "ATE without SE(3) alignment, which is degenerate here (%s); "
            "aligning the first poses instead",
            exc,
        )
        est.align_origin(ref)
    ape = metrics.APE(metrics.PoseRelation.translation_part)
    ape.process_data((ref, est))
    return AteResult(
        rmse_m=float(ape.get_statistic(metrics.StatisticsType.rmse)),
        max_m=float(ape.get_statistic(metrics.StatisticsType.max)),
        n_matched=int(ref.num_poses),
    )


def build_map(
    scans_xyz: Sequence[np.ndarray],  # each [K, 3], sensor frame, metres
    T_world_lidar: np.ndarray,  # [N, 4, 4]
    every_scan: int = 1,
    every_point: int = 1,
) -> np.ndarray:  # [P, 3] world frame
    """Merge scans[::every_scan], points[::every_point], into the world frame."""
    if len(scans_xyz) != len(T_world_lidar):
        raise ValueError(f"{len(scans_xyz)} scans but {len(T_world_lidar)} poses")
    parts = [
        np.asarray(xyz[::every_point], dtype=np.float64) @ T[:3, :3].T + T[:3, 3]
        for xyz, T in zip(scans_xyz[::every_scan], T_world_lidar[::every_scan], strict=True)
    ]
    return np.concatenate(parts) if parts else np.zeros((0, 3))


def map_sharpness(
    scans_xyz: Sequence[np.ndarray],  # each [K, 3], sensor frame, metres
    T_world_lidar: np.ndarray,  # [N, 4, 4]
    *,
    every_scan: int = 2,
    every_point: int = 4,
    radius_m: float = 0.3,
    n_samples: int = 20000,
    min_neighbors: int = 10,
    seed: int = 0,
) -> SharpnessResult:
    """Median local plane thickness and mean map entropy of the map the poses build."""
    pts = build_map(scans_xyz, np.asarray(T_world_lidar), every_scan, every_point)
    if len(pts) == 0:
        raise ValueError("empty map")
    pts -= pts.mean(axis=0)  # keeps the raw second moments well conditioned
    tree = cKDTree(pts, balanced_tree=False, compact_nodes=False)  # faster build, same answers
    rng = np.random.default_rng(seed)
    queries = pts[rng.choice(len(pts), size=min(n_samples, len(pts)), replace=False)]  # [S, 3]

    counts, sums = [], []  # per sample: n, then sums of x y z xx xy xz yy yz zz
    for q in np.array_split(queries, max(1, -(-len(queries) // _CHUNK))):
        nbrs = tree.query_ball_point(q, radius_m, workers=-1, return_sorted=False)
        n = np.fromiter(map(len, nbrs), dtype=np.intp, count=len(nbrs))  # [C], >= 1 (itself)
        flat = np.concatenate(nbrs).astype(np.intp)  # [sum n], grouped by sample
        x, y, z = (pts[flat, k] for k in range(3))
        starts = np.cumsum(n) - n
        cols = (x, y, z, x * x, x * y, x * z, y * y, y * z, z * z)
        sums.append(np.stack([np.add.reduceat(c, starts) for c in cols], axis=1))  # [C, 9]
        counts.append(n)
    n = np.concatenate(counts)
    s = np.concatenate(sums)

    ok = n >= max(min_neighbors, 2)
    n, s = n[ok].astype(np.float64), s[ok]
    mean = s[:, :3] / n[:, None]  # [M, 3]
    i, j = np.triu_indices(3)  # (0,0) (0,1) (0,2) (1,1) (1,2) (2,2), the order of cols
    cov = np.empty((len(n), 3, 3))
    cov[:, i, j] = (s[:, 3:] - n[:, None] * mean[:, i] * mean[:, j]) / (n[:, None] - 1)
    cov[:, j, i] = cov[:, i, j]
    eig = np.linalg.eigvalsh(cov)  # [M, 3], ascending

    thickness = np.sqrt(np.clip(eig[:, 0], 0.0, None))
    pd = eig[:, 0] > 0
    entropy = 0.5 * (3.0 * np.log(2.0 * np.pi * np.e) + np.log(eig[pd]).sum(axis=1))
    log.debug(
        "sharpness: %d map points, %d/%d samples with >= %d neighbours, %d degenerate",
        len(pts),
        len(n),
        len(queries),
        min_neighbors,
        int((~pd).sum()),
    )
    if len(n) == 0:
        return SharpnessResult(float("nan"), float("nan"), 0)
    return SharpnessResult(
        plane_thickness_median_m=float(np.median(thickness)),
        entropy_mean=float(entropy.mean()) if pd.any() else float("nan"),
        n_samples=int(len(n)),
    )
