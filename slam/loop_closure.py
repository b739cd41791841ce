"""Loop closure between submaps: find where the walk came back, and prove it by registration.

Two searches give candidates, each with a guess of the relative pose: by position (here), and
by appearance (slam/place_recognition.py) for drift beyond the search radius. Search by
position: an earlier submap is a candidate when its anchor lies within the search
radius of the new one's, as the pose graph places them now. The radius grows with the
odometry's uncertainty over the path walked between the two (3 sigma of `odometry_drift_per_m`
times that path), on top of `loop_radius_m`, up to `loop_max_radius_m`; a candidate must lie
`loop_min_path_m` of path back, or it is the odometry's own neighbourhood.

Verification (small_gicp's GICP, near the guess first and then from wider, each coarse to fine):
the new submap's coarse cloud against the candidate's with its two neighbours, from the
graph's relative pose or the place recognition's guess. It is a loop only when
- GICP converged, and at least `loop_min_overlap` of the new submap's structure (points whose
  surface is not level: walls, trees, things; the ground overlaps wherever the guess puts it)
  lies within `loop_inlier_m` of the old points, at distances to the old surface with an RMS
  under `loop_max_rmse_m`; and at least `loop_min_level_overlap` of its level surfaces (floors,
  the ground) meets the old ones: walls alone also fit a look-alike room a storey up;
- the fit is well conditioned. Its weakest direction of translation holds at least
  `loop_min_conditioning` of the next one's information: a corridor slides along itself, and
  its repeated doors fit at every bay. And at least `loop_min_open_conditioning` of the
  strongest's: an open field holds only height, and the ground dominates outdoors, so this one
  is loose;
- the correction it makes from the guess is plausible: within the search radius (by
  position; a few metres from the place recognition's guess), and within `loop_max_dz_m`
  vertically (the levelled filter's height error between two visits is far below a storey, so
  look-alike floors stacked one over another are refused); and, when the filter is levelled by
  gravity, it tilts j against i by at most `loop_max_tilt_deg` (a look-alike that fits only
  once tilted is another place);
- the fit is the best place around it (`ambiguity`): no other horizontal shift within
  `loop_ambiguity_reach_m` shares `loop_max_ambiguity` of its structure from above. GICP
  settles in the nearest minimum, and along a facade whose bays repeat that is one bay along,
  with every test above passed. When another shift fits better, registration is tried once
  from there.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from slam.config import MappingConfig
from slam.se3 import se3_inv, so3_log, transform

log = logging.getLogger(__name__)

MAX_POINTS = 20_000  # of the new submap's coarse cloud in a registration
STRUCTURE_MAX_UP = 0.7  # a point whose normal is within 45 deg of level is structure, not ground
MIN_STRUCTURE_POINTS = 50
AMBIGUITY_CELL_M = 0.5  # the raster from above in which other shifts of a fit are scored
AMBIGUITY_OWN_M = 1.0  # shifts this near a fit are the fit itself


@dataclass(frozen=True)
class LoopClosure:
    """A verified loop: the measured pose of submap `j`'s anchor in submap `i`'s (i < j)."""

    i: int
    j: int
    T_i_j: np.ndarray  # [4, 4]
    overlap: float  # share of j's coarse points within loop_inlier_m of i's
    rmse_m: float
    correction_m: float  # how far the registration moved j from where the graph had it
    correction_deg: float
    kind: str = "position"  # how it was found: "position" or "appearance"


@dataclass(frozen=True)
class Rejection:
    i: int
    j: int
    reason: str


def search_radius_m(config: MappingConfig, path_between_m):  # float or [N] -> the same
    r = config.loop_radius_m + 3.0 * config.odometry_drift_per_m * path_between_m
    return np.minimum(r, config.loop_max_radius_m)


def candidates(
    config: MappingConfig,
    T_world_anchor: np.ndarray,  # [K, 4, 4] every submap's anchor, as the graph has it now
    path_m: np.ndarray,  # [K] path walked from the first anchor to each
    j: int,  # the new submap
) -> list[int]:
    """Earlier submaps near enough to `j` to be the same place, nearest first."""
    between = path_m[j] - path_m[:j]
    far = between >= config.loop_min_path_m
    older, between = np.arange(j)[far], between[far]
    if len(older) == 0:
        return []
    d = np.linalg.norm(T_world_anchor[older, :3, 3] - T_world_anchor[j, :3, 3], axis=1)
    near = d <= search_radius_m(config, between)
    order = np.argsort(d[near])
    return [int(i) for i in older[near][order][: config.loop_candidates]]


def verify(
    config: MappingConfig,
    i: int,
    j: int,
    target_m: np.ndarray,  # [N, 3] submap i's coarse cloud (and its neighbours'), i's frame
    source_m: np.ndarray,  # [M, 3] submap j's coarse cloud, j's frame
    T_i_j_guess: np.ndarray,  # [4, 4] from the graph, or from the place recognition
    max_correction_m: float,  # the registration may move j this far from the guess
    up_i: np.ndarray,  # [3] the world's up in i's frame
    kind: str = "position",
    levelled: bool = False,  # roll and pitch are held by gravity: the tilt test applies
) -> LoopClosure | Rejection:
    """Register j to i from a guess; the loop, or why not. Its correction is from the guess.

    Registration tries near the guess first (correspondences within 1 m, then 0.5 m): a good
    guess (the place recognition's is within a metre; a small drift's too) stays on its own
    floor, where wide correspondences could pull it onto the storey above. Only when that
    fails, and the guess may be further off, again from wide (up to 3 m) to 0.5 m."""
    import small_gicp

    if len(target_m) < 100 or len(source_m) < 100:
        return Rejection(i, j, "too few points")
    wide = max(1.0, min(max_correction_m, 3.0))
    # the time goes with the points: at most MAX_POINTS of the new submap (one in the open
    # sees thousands of square metres), and the old place only where the new one may land
    source_m = source_m[:: -(-len(source_m) // MAX_POINTS)]
    lo, hi = _bounds(transform(T_i_j_guess, source_m), wide + 1.0)
    target_m = target_m[((target_m >= lo) & (target_m <= hi)).all(axis=1)]
    if len(target_m) < 100:
        return Rejection(i, j, "too few points")
    voxel = config.loop_voxel_m
    tgt, tree = small_gicp.preprocess_points(target_m.astype(np.float64), voxel, 10)
    src, _ = small_gicp.preprocess_points(source_m.astype(np.float64), voxel, 10)
    starts = [(T_i_j_guess, (1.0, 0.5))] + ([(T_i_j_guess, (wide, 0.5))] if wide > 1.0 else [])
    found: LoopClosure | Rejection = Rejection(i, j, "not tried")
    retried = False
    while starts:
        T, schedule = starts.pop(0)
        res = None
        for max_corr in schedule:
            res = small_gicp.align(
                tgt, src, tree, T, "GICP", max_correspondence_distance=max_corr, max_iterations=30
            )
            T = np.asarray(res.T_target_source)
        found = _check(config, i, j, tgt, src, tree, res, T_i_j_guess, max_correction_m, up_i,
                       kind, levelled)  # fmt: skip
        if isinstance(found, Rejection):
            continue
        ratio, shift_m = ambiguity(config, tgt, src, found.T_i_j, up_i)
        if ratio < config.loop_max_ambiguity:
            return found
        # a facade's repeated bays: another shift fits as well or better. Once, from there.
        if not retried:
            retried = True
            T_there = np.array(found.T_i_j)
            T_there[:3, 3] += shift_m
            starts = [(T_there, (1.0, 0.5))]
        found = Rejection(
            i, j, f"ambiguous: {np.linalg.norm(shift_m):.1f} m away fits {ratio:.2f}x as well"
        )
    return found


def ambiguity(
    config: MappingConfig,
    tgt,  # small_gicp.PointCloud, i's frame, with normals
    src,  # small_gicp.PointCloud, j's frame, with normals
    T_i_j: np.ndarray,  # [4, 4] the fit
    up_i: np.ndarray,  # [3] the world's up in i's frame
) -> tuple[float, np.ndarray]:  # (ratio, shift [3] in i's frame)
    """How well the best other horizontal shift of j fits i, against the fit itself.

    From above, j's structure (walls, trees, things) and i's are rasters of occupied
    AMBIGUITY_CELL_M cells; their cross-correlation (by FFT) counts the cells they share at
    every shift within `loop_ambiguity_reach_m`. The fit's own score is the best within
    AMBIGUITY_OWN_M of it (a wall's thickness, a cell's rounding); the ratio is the best
    score beyond that over it. A true loop scores its own place highest (at most 0.9 of it
    elsewhere on the campus twin); a fit one bay along a repetitive facade scores under
    the true place (1.8-1.9x on the campus twin), a regression the ICP cannot see."""
    cell, reach = AMBIGUITY_CELL_M, config.loop_ambiguity_reach_m
    basis = _horizontal_basis(up_i)  # [2, 3]
    src_pts = transform(T_i_j, np.asarray(src.points())[:, :3])
    src_up = np.asarray(src.normals())[:, :3] @ T_i_j[:3, :3].T @ up_i
    tgt_up = np.asarray(tgt.normals())[:, :3] @ up_i
    b = src_pts[np.abs(src_up) < STRUCTURE_MAX_UP] @ basis.T  # [Nb, 2]
    a = np.asarray(tgt.points())[:, :3][np.abs(tgt_up) < STRUCTURE_MAX_UP] @ basis.T  # [Na, 2]
    if len(a) == 0 or len(b) == 0:
        return 0.0, np.zeros(3)
    lo, hi = b.min(axis=0) - reach, b.max(axis=0) + reach
    a = a[((a >= lo) & (a <= hi)).all(axis=1)]
    shape = (np.ceil((hi - lo) / cell).astype(int) + 1).tolist()
    padded = [2 * n for n in shape]  # no shift within reach wraps around

    def raster(p: np.ndarray) -> np.ndarray:  # [N, 2] -> shape
        g = np.zeros(shape)
        ij = ((p - lo) / cell).astype(int)
        g[ij[:, 0], ij[:, 1]] = 1.0
        return g

    # shared[s] = sum over x of a[x + s] * b[x]: the cells j's structure shares with i's
    # when shifted by s
    shared = np.fft.irfft2(
        np.fft.rfft2(raster(a), padded) * np.conj(np.fft.rfft2(raster(b), padded)), padded
    )
    s = np.arange(-int(reach / cell), int(reach / cell) + 1)
    window = shared[np.ix_(s % padded[0], s % padded[1])]
    own = (s[:, None] ** 2 + s[None, :] ** 2) * cell**2 <= AMBIGUITY_OWN_M**2
    score = window[own].max()
    k = np.unravel_index(np.argmax(np.where(own, -np.inf, window)), window.shape)
    if score <= 0.5:
        return np.inf, np.zeros(3)
    return float(window[k] / score), np.array([s[k[0]], s[k[1]]]) * cell @ basis


def _horizontal_basis(up: np.ndarray) -> np.ndarray:  # [3] -> [2, 3] orthonormal, normal to up
    up = up / np.linalg.norm(up)
    x = np.cross([0.0, 1.0, 0.0] if abs(up[1]) < 0.9 else [1.0, 0.0, 0.0], up)
    x /= np.linalg.norm(x)
    return np.stack([x, np.cross(up, x)])


def _check(
    config: MappingConfig,
    i: int,
    j: int,
    tgt,  # small_gicp.PointCloud, i's frame, with normals
    src,  # small_gicp.PointCloud, j's frame
    tree,  # small_gicp.KdTree of tgt
    res,  # small_gicp.RegistrationResult
    T_i_j_guess: np.ndarray,  # [4, 4]
    radius: float,
    up_i: np.ndarray,  # [3]
    kind: str,
    levelled: bool,
) -> LoopClosure | Rejection:
    """The tests a registration must pass to be a loop."""
    T = np.asarray(res.T_target_source)
    if not res.converged:
        return Rejection(i, j, "did not converge")
    moved = T[:3, 3] - T_i_j_guess[:3, 3]
    correction_m = float(np.linalg.norm(moved))
    correction_deg = float(np.degrees(np.linalg.norm(so3_log(T_i_j_guess[:3, :3].T @ T[:3, :3]))))
    if correction_m > radius:
        return Rejection(i, j, f"correction {correction_m:.2f} m beyond the {radius:.2f} m radius")
    dz = float(moved @ up_i)  # in the world frame, where the filter is levelled
    if abs(dz) > config.loop_max_dz_m:
        return Rejection(i, j, f"vertical correction {dz:.2f} m: another floor")
    # j's up as the guess had it (level with i's), turned by the correction
    up_after = T[:3, :3] @ (T_i_j_guess[:3, :3].T @ up_i)
    tilt_deg = float(np.degrees(np.arccos(np.clip(up_after @ up_i, -1.0, 1.0))))
    if levelled and tilt_deg > config.loop_max_tilt_deg:
        return Rejection(i, j, f"tilted {tilt_deg:.2f} deg against gravity")
    # the inlier test counts structure only: the ground overlaps wherever the guess puts it
    src_i = transform(T, np.asarray(src.points())[:, :3])
    normals_i = np.asarray(src.normals())[:, :3] @ T[:3, :3].T
    structure = np.abs(normals_i @ up_i) < STRUCTURE_MAX_UP
    if structure.sum() < MIN_STRUCTURE_POINTS:
        return Rejection(i, j, f"{structure.sum()} points of structure (walls, trees, things)")
    # but the level surfaces (floors, ground) must meet: walls alone fit a storey up or down
    level = ~structure
    if level.sum() >= MIN_STRUCTURE_POINTS:
        _, sq_level = tree.batch_nearest_neighbor_search(src_i[level])
        level_overlap = float((np.sqrt(np.asarray(sq_level)) <= config.loop_inlier_m).mean())
        if level_overlap < config.loop_min_level_overlap:
            return Rejection(
                i, j, f"level surfaces overlap {level_overlap:.2f}: another floor or ground"
            )
    nn, sq = tree.batch_nearest_neighbor_search(src_i[structure])
    nn, d = np.asarray(nn), np.sqrt(np.asarray(sq))
    inl = (nn >= 0) & (d <= config.loop_inlier_m)
    overlap = float(inl.mean())
    # distances to the old surface (the target's local plane), not between the two samplings
    tp, tn = np.asarray(tgt.points())[nn[inl], :3], np.asarray(tgt.normals())[nn[inl], :3]
    plane_d = np.einsum("ij,ij->i", src_i[structure][inl] - tp, tn)
    rmse = float(np.sqrt(np.mean(plane_d**2))) if inl.any() else np.inf
    if overlap < config.loop_min_overlap:
        return Rejection(i, j, f"overlap {overlap:.2f}")
    if rmse > config.loop_max_rmse_m:
        return Rejection(i, j, f"rmse {rmse:.3f} m")
    H_t = np.asarray(res.H)[3:, 3:]  # small_gicp orders the Hessian rotation, translation
    ev = np.maximum(np.linalg.eigvalsh(0.5 * (H_t + H_t.T)), 0.0)  # ascending
    if ev[0] < config.loop_min_conditioning * ev[1]:
        return Rejection(i, j, f"ill-conditioned: slides along one direction ({ev[0] / ev[1]:.3f})")
    if ev[0] < config.loop_min_open_conditioning * ev[2]:
        return Rejection(i, j, f"ill-conditioned: slides in a plane ({ev[0] / ev[2]:.4f})")
    return LoopClosure(i, j, T, overlap, rmse, correction_m, correction_deg, kind)


def _bounds(points: np.ndarray, margin_m: float) -> tuple[np.ndarray, np.ndarray]:  # [N, 3]
    return points.min(axis=0) - margin_m, points.max(axis=0) + margin_m


def relative(T_world_a: np.ndarray, T_world_b: np.ndarray) -> np.ndarray:  # -> [4, 4]
    return se3_inv(T_world_a) @ T_world_b
