"""Trajectory and map-quality metrics.

ATE (absolute trajectory error)
    The estimated poses are associated with the reference poses by time (nearest stamp within
    ``max_dt_s``), rigidly aligned to them with the SE(3) Umeyama fit (no scale), and the
    translation errors of the matched poses give the RMSE and the maximum, in metres. Computed
    with the ``evo`` library (optional ``bench`` dependency).

End-to-end drift
    What a long walk's last pose is off by when the estimate starts where the truth starts.
    Each estimated pose is matched to the reference pose nearest in time (within ``max_dt_s``);
    the matched pairs of the first ``align_s`` seconds give one rigid transform (R, t) into the
    reference's world: R is the mean of the pairs' R_ref_i @ R_est_i^T projected onto SO(3),
    t = mean(p_ref_i - R @ p_est_i). R comes from the orientations, so a start standing still
    aligns as well as a moving one. Then, for the
    aligned positions: the final error ``end_m`` = |p_est[-1] - p_ref[-1]|, as a percentage of
    the path walked (the sum of the reference's steps between matched poses), the final
    vertical error ``z_end_m`` (signed, estimate minus reference, the world's z) and the
    largest |z error| along the way, ``z_max_m``.

Relative error by distance (what a surveyor sees between two control points)
    For pose pairs (i, j) where the reference has walked ``distance_m`` from i to j (every
    ``stride``-th i), the error of the estimated relative pose's translation,
    inv(T_ref_i^-1 T_ref_j) T_est_i^-1 T_est_j, turned into the world's axes by the reference's
    orientation at i: its horizontal and vertical RMS over the pairs, in metres (evo's RPE with
    a delta in metres, split by gravity, which the world's z is).

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

Revisited-surface thickness (what a loop closure must fix)
    Two visits of one place, each as its own cloud placed by the poses under test. For random
    points of the second visit, the neighbours within ``radius_m`` in both clouds together give
    the local plane thickness as above, counted only where at least ``min_each`` neighbours come
    from each visit: a surface seen twice. Drift between the visits doubles the surface, and
    the thickness grows with the offset along its normal.
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
class DriftResult:
    end_m: float  # |final position error| after aligning the first align_s seconds
    end_pct: float  # end_m as a percentage of the path length
    path_m: float  # the reference's path length over the matched poses
    z_end_m: float  # final z error, estimate minus reference
    z_max_m: float  # largest |z error|
    n_matched: int


@dataclass(frozen=True)
class RelativeError:
    distance_m: float  # the stretch walked (the reference's path)
    horizontal_m: float  # RMS over the pairs
    vertical_m: float
    n_pairs: int


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


def associate(
    t_est_s: np.ndarray, t_ref_s: np.ndarray, max_dt_s: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """For each estimate stamp, the nearest reference stamp within max_dt_s -> the indices of
    the matched pairs (est [K], ref [K]). t_ref_s must be sorted."""
    t_est_s, t_ref_s = np.asarray(t_est_s, dtype=np.float64), np.asarray(t_ref_s, np.float64)
    if len(t_ref_s) == 0 or len(t_est_s) == 0:
        return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
    hi = np.clip(np.searchsorted(t_ref_s, t_est_s), 1, len(t_ref_s) - 1)
    lo = hi - 1
    nearest = np.where(np.abs(t_ref_s[lo] - t_est_s) <= np.abs(t_ref_s[hi] - t_est_s), lo, hi)
    if len(t_ref_s) == 1:
        nearest = np.zeros(len(t_est_s), dtype=np.intp)
    ok = np.abs(t_ref_s[nearest] - t_est_s) <= max_dt_s
    return np.flatnonzero(ok), nearest[ok]


def end_drift(
    t_est_s: np.ndarray,  # [N]
    T_world_est: np.ndarray,  # [N, 4, 4]
    t_ref_s: np.ndarray,  # [M], sorted
    T_world_ref: np.ndarray,  # [M, 4, 4]
    align_s: float = 5.0,
    max_dt_s: float = 0.01,
) -> DriftResult:
    """End-to-end drift of an estimate aligned to the reference on its first align_s seconds
    (see the module's docstring). Raises ValueError when no poses match in time."""
    i_est, i_ref = associate(t_est_s, t_ref_s, max_dt_s)
    if len(i_est) == 0:
        raise ValueError("no estimated pose is within max_dt_s of a reference pose")
    T_est = np.asarray(T_world_est, dtype=np.float64)[i_est]  # [K, 4, 4]
    T_ref = np.asarray(T_world_ref, dtype=np.float64)[i_ref]
    t = np.asarray(t_est_s, dtype=np.float64)[i_est]
    first = t <= t[0] + align_s
    R_pairs = T_ref[first, :3, :3] @ T_est[first, :3, :3].transpose(0, 2, 1)  # [F, 3, 3]
    U, _, Vt = np.linalg.svd(R_pairs.mean(axis=0))
    R = U @ np.diag([1.0, 1.0, np.linalg.det(U @ Vt)]) @ Vt  # the rotation nearest the mean
    p_ref = T_ref[:, :3, 3]
    p_est = T_est[:, :3, 3] @ R.T  # [K, 3] rotated into the reference's world
    p_est += (p_ref[first] - p_est[first]).mean(axis=0)
    err = p_est - p_ref
    path = float(np.linalg.norm(np.diff(p_ref, axis=0), axis=1).sum())
    end = float(np.linalg.norm(err[-1]))
    return DriftResult(
        end_m=end,
        end_pct=100.0 * end / path if path > 0 else float("nan"),
        path_m=path,
        z_end_m=float(err[-1, 2]),
        z_max_m=float(np.abs(err[:, 2]).max()),
        n_matched=len(i_est),
    )


def relative_error(
    t_est_s: np.ndarray,  # [N]
    T_world_est: np.ndarray,  # [N, 4, 4]
    t_ref_s: np.ndarray,  # [M], sorted
    T_world_ref: np.ndarray,  # [M, 4, 4]
    distance_m: float,
    stride: int = 5,
    max_dt_s: float = 0.01,
) -> RelativeError:
    """The error over stretches of distance_m walked (see the module's docstring); n_pairs 0
    (and NaN errors) when the walk is shorter than that."""
    i_est, i_ref = associate(t_est_s, t_ref_s, max_dt_s)
    T_est = np.asarray(T_world_est, dtype=np.float64)[i_est]  # [K, 4, 4]
    T_ref = np.asarray(T_world_ref, dtype=np.float64)[i_ref]
    steps = np.linalg.norm(np.diff(T_ref[:, :3, 3], axis=0), axis=1)
    walked = np.concatenate([[0.0], np.cumsum(steps)])  # [K]
    j = np.searchsorted(walked, walked + distance_m)
    i = np.flatnonzero(j < len(walked))[::stride]
    if len(i) == 0:
        return RelativeError(distance_m, float("nan"), float("nan"), 0)
    j = j[i]
    rel_est = np.linalg.inv(T_est[i]) @ T_est[j]  # [P, 4, 4]
    rel_ref = np.linalg.inv(T_ref[i]) @ T_ref[j]
    err = np.linalg.inv(rel_ref) @ rel_est
    d_world = np.einsum("pij,pj->pi", T_ref[i, :3, :3], err[:, :3, 3])  # [P, 3]
    return RelativeError(
        distance_m=float(distance_m),
        horizontal_m=float(np.sqrt(np.mean(np.sum(d_world[:, :2] ** 2, axis=1)))),
        vertical_m=float(np.sqrt(np.mean(d_world[:, 2] ** 2))),
        n_pairs=len(i),
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


def revisit_thickness(
    first_world: np.ndarray,  # [N, 3] the first visit's points, world frame
    second_world: np.ndarray,  # [M, 3] the second visit's
    *,
    radius_m: float = 0.3,
    n_samples: int = 5000,
    min_each: int = 5,
    seed: int = 0,
) -> np.ndarray:  # [S] local plane thickness (m) at each sample where both visits are
    """The local plane thickness of the two visits together, where both saw the surface."""
    if len(first_world) == 0 or len(second_world) == 0:
        return np.zeros(0)
    origin = second_world.mean(axis=0)
    pts = np.concatenate([first_world, second_world]).astype(np.float64) - origin
    n_first = len(first_world)
    tree = cKDTree(pts, balanced_tree=False, compact_nodes=False)
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(second_world), size=min(n_samples, len(second_world)), replace=False)
    nbrs = tree.query_ball_point(pts[n_first + pick], radius_m, workers=-1, return_sorted=False)
    n = np.fromiter(map(len, nbrs), dtype=np.intp, count=len(nbrs))  # [S]
    flat = np.concatenate(nbrs).astype(np.intp)
    starts = np.cumsum(n) - n
    from_first = np.add.reduceat((flat < n_first).astype(np.intp), starts)  # [S]
    both = (from_first >= min_each) & (n - from_first >= min_each)
    x, y, z = (pts[flat, k] for k in range(3))
    cols = (x, y, z, x * x, x * y, x * z, y * y, y * z, z * z)
    s = np.stack([np.add.reduceat(c, starts) for c in cols], axis=1)[both]  # [B, 9]
    nb = n[both].astype(np.float64)
    mean = s[:, :3] / nb[:, None]
    i, j = np.triu_indices(3)
    cov = np.empty((len(nb), 3, 3))
    cov[:, i, j] = (s[:, 3:] - nb[:, None] * mean[:, i] * mean[:, j]) / (nb[:, None] - 1)
    cov[:, j, i] = cov[:, i, j]
    return np.sqrt(np.clip(np.linalg.eigvalsh(cov)[:, 0], 0.0, None))
