"""The pose graph of the submaps' anchors, in GTSAM.

Factors:
- a prior holding the first anchor where the odometry started;
- between consecutive anchors, the odometry's relative pose, with a noise that grows with the
  path walked between them (`odometry_drift_per_m`, `odometry_drift_deg_per_m`), and grows
  much more along a direction the lidar could not see while it was walked (a featureless
  tunnel, where the filter holds the pace: `odometry_blind_drift_per_m`), and in part along
  one it saw poorly (a street between long walls: mapping.blindness), so a loop's correction
  goes there and not into the well-seen rest of the walk;
- for each anchor, when the odometry is LiDAR-inertial, gravity: the filter's up direction in
  the anchor's frame (an AttitudeFactor, `gravity_sigma_deg`), which keeps roll and pitch
  observable so that a loop cannot tilt the map, and bounds the height drift they cause;
- each verified loop, the registration's relative pose under a Huber kernel (convex, so the
  optimisation still converges from a drifted start; a false loop that got through pulls with
  a bounded force, not a quadratic one).

iSAM2 keeps the estimate up to date as submaps and loops arrive (the live worker; after a
loop it relinearises until the estimate settles); `optimize`
runs Levenberg-Marquardt over the whole graph from that estimate (at the end of a scan).
"""

from __future__ import annotations

import logging

import gtsam
import numpy as np

from slam.config import MappingConfig

log = logging.getLogger(__name__)

PRIOR_SIGMA = 1e-6  # the first anchor defines the map frame
FREE_SIGMA = 1e3  # a prior that holds nothing: a pose other factors place
ISAM2_LOOP_ITERATIONS = 10  # relinearisations after a loop, at most


def _largest_move_m(a: gtsam.Values, b: gtsam.Values) -> float:
    keys = [k for k in a.keys() if b.exists(k)]  # noqa: SIM118 - gtsam.Values is no dict
    if not keys:
        return 0.0
    return max(
        float(np.linalg.norm(a.atPose3(k).translation() - b.atPose3(k).translation())) for k in keys
    )


def _x(k: int) -> int:
    return gtsam.symbol("x", k)


def _diag(sigma_rad: float, sigma_m: float) -> gtsam.noiseModel.Base:
    return gtsam.noiseModel.Diagonal.Sigmas(np.array([sigma_rad] * 3 + [sigma_m] * 3))


class PoseGraph:
    def __init__(
        self, config: MappingConfig, levelled: bool, prior_sigma: float = PRIOR_SIGMA
    ) -> None:
        self.config = config
        self.prior_sigma = prior_sigma  # the first anchor's; loose: other priors hold the frame
        self.levelled = levelled  # the odometry's world has z up (LiDAR-inertial)
        params = gtsam.ISAM2Params()
        params.setRelinearizeThreshold(0.01)
        params.relinearizeSkip = 1
        self._isam = gtsam.ISAM2(params)
        self._graph = gtsam.NonlinearFactorGraph()  # every factor, for the batch at the end
        self._new = gtsam.NonlinearFactorGraph()
        self._new_values = gtsam.Values()
        self._estimate = gtsam.Values()
        self._odometry: list[np.ndarray] = []  # [4, 4] each anchor as the odometry had it
        self.between_cov: list[np.ndarray] = []  # [6, 6] each odometry factor's (graph.json)
        self._n_priors = 0
        self.n_loops = 0
        self._loop_pending = False

    def __len__(self) -> int:
        return len(self._odometry)

    def add_anchor(
        self,
        T_world_anchor: np.ndarray,  # [4, 4]
        path_from_previous_m: float,
        blind_m_world: np.ndarray | None = None,  # [3, 3] sum(length * a a^T), unseen axes a
        cov: np.ndarray | None = None,  # [6, 6] the factor's, as saved: overrides the model
        chained: bool = True,  # False: the first anchor of another scan (a site), held loosely
        up: np.ndarray | None = None,  # [3] gravity's up in the graph's frame (default z): a
        # scan placed in a site by another unit, its IMU's level a degree or two off the first's
    ) -> int:
        """A new submap's anchor as the odometry placed it (-> its index)."""
        given = cov
        k = len(self._odometry)
        cfg = self.config
        pose = gtsam.Pose3(T_world_anchor)
        if k == 0 or not chained:
            sigma = self.prior_sigma if k == 0 else FREE_SIGMA
            self._add(gtsam.PriorFactorPose3(_x(k), pose, _diag(sigma, sigma)))
            guess = pose
        else:
            rel = gtsam.Pose3(np.linalg.inv(self._odometry[-1]) @ T_world_anchor)
            length = max(path_from_previous_m, 0.5)
            if cov is not None:
                cov = np.array(cov, dtype=float)
            else:
                cov = np.diag(
                    [np.radians(cfg.odometry_drift_deg_per_m * length) ** 2] * 3
                    + [(cfg.odometry_drift_per_m * length) ** 2] * 3
                )
            if given is None and blind_m_world is not None and np.any(blind_m_world):
                # sigma along an unseen axis a: odometry_blind_drift_per_m * the path walked
                # blind (trace), in the new anchor's frame, where the factor's error lies
                R = T_world_anchor[:3, :3]
                blind_m = float(np.trace(blind_m_world))
                cov[3:, 3:] += (
                    cfg.odometry_blind_drift_per_m**2 * blind_m * (R.T @ blind_m_world @ R)
                )
            self.between_cov.append(cov)
            noise = gtsam.noiseModel.Gaussian.Covariance(cov)
            self._add(gtsam.BetweenFactorPose3(_x(k - 1), _x(k), rel, noise))
            previous = (
                self._estimate.atPose3(_x(k - 1))
                if self._estimate.exists(_x(k - 1))
                else self._new_values.atPose3(_x(k - 1))
            )
            guess = previous.compose(rel)  # the new anchor follows the corrected chain
        if self.levelled:
            up_world = np.array([0.0, 0.0, 1.0]) if up is None else np.asarray(up, float)
            up_in_anchor = T_world_anchor[:3, :3].T @ up_world
            sigma = np.radians(cfg.gravity_sigma_deg)
            self._add(
                gtsam.AttitudeFactorPose3(
                    _x(k),
                    gtsam.Unit3(up_world),
                    gtsam.noiseModel.Isotropic.Sigma(2, sigma),
                    gtsam.Unit3(up_in_anchor),
                )
            )
        self._new_values.insert(_x(k), guess)
        self._odometry.append(np.array(T_world_anchor, dtype=float))
        return k

    def add_loop(self, i: int, j: int, T_i_j: np.ndarray) -> None:
        cfg = self.config
        noise = gtsam.noiseModel.Robust.Create(
            gtsam.noiseModel.mEstimator.Huber.Create(1.0),
            _diag(np.radians(cfg.loop_sigma_deg), cfg.loop_sigma_m),
        )
        self._add(gtsam.BetweenFactorPose3(_x(i), _x(j), gtsam.Pose3(T_i_j), noise))
        self.n_loops += 1
        self._loop_pending = True

    def add_position_prior(
        self,
        k: int,
        p_anchor_m: np.ndarray,  # [3] a point in anchor k's frame
        xyz_world_m: np.ndarray,  # [3] where it is known to be (a surveyed control point)
        sigma_m: float,
    ) -> None:
        """A point of submap k is known in the world: an auxiliary pose rigidly on the anchor
        at that point, its position held by a GPSFactor (the survey's sigma). Quadratic: the scan
        may be decimetres off before; a blunder is for the rigid fit to flag and the user to
        exclude first."""
        m = gtsam.symbol("m", self._n_priors)
        self._n_priors += 1
        offset = gtsam.Pose3(gtsam.Rot3(), np.asarray(p_anchor_m, dtype=float))
        self._add(gtsam.BetweenFactorPose3(_x(k), m, offset, _diag(1e-4, 1e-4)))
        noise = gtsam.noiseModel.Isotropic.Sigma(3, sigma_m)  # no robust kernel: a drifted scan
        self._add(gtsam.GPSFactor(m, np.asarray(xyz_world_m, dtype=float), noise))  # is far off
        anchor = (
            self._estimate.atPose3(_x(k))
            if self._estimate.exists(_x(k))
            else self._new_values.atPose3(_x(k))
        )
        self._new_values.insert(m, anchor.compose(offset))
        self._loop_pending = True

    def set_estimate(self, T_world_anchor: np.ndarray) -> None:  # [K, 4, 4]
        """Start from these anchors (a saved graph's optimised ones) instead of the odometry's
        chain: before the first update only."""
        for k, T in enumerate(T_world_anchor):
            if self._new_values.exists(_x(k)):
                self._new_values.update(_x(k), gtsam.Pose3(np.asarray(T, dtype=float)))

    def _add(self, factor) -> None:
        self._new.add(factor)
        self._graph.add(factor)

    def update(self) -> None:
        """iSAM2 with what arrived since the last update."""
        if self._new.size() == 0 and self._new_values.size() == 0:
            return
        self._isam.update(self._new, self._new_values)
        self._new = gtsam.NonlinearFactorGraph()
        self._new_values = gtsam.Values()
        if self._loop_pending:  # the robust kernel reweights: relinearise until it settles
            before = self._isam.calculateEstimate()
            for _ in range(ISAM2_LOOP_ITERATIONS):
                self._isam.update()
                now = self._isam.calculateEstimate()
                if _largest_move_m(before, now) < 1e-3:
                    break
                before = now
            self._loop_pending = False
        self._estimate = self._isam.calculateEstimate()

    def optimize(self) -> None:
        """Levenberg-Marquardt over the whole graph, from iSAM2's estimate."""
        self.update()
        if self._estimate.size() == 0:
            return
        params = gtsam.LevenbergMarquardtParams()
        params.setMaxIterations(100)
        self._estimate = gtsam.LevenbergMarquardtOptimizer(
            self._graph, self._estimate, params
        ).optimize()

    def poses(self) -> np.ndarray:  # -> [K, 4, 4] every anchor, the graph's estimate
        """The current estimate (anchors not yet in iSAM2 follow the odometry from the last)."""
        out = []
        for k in range(len(self._odometry)):
            if self._estimate.exists(_x(k)):
                out.append(self._estimate.atPose3(_x(k)).matrix())
            elif k == 0:
                out.append(self._odometry[0])
            else:
                out.append(out[-1] @ np.linalg.inv(self._odometry[k - 1]) @ self._odometry[k])
        return np.array(out).reshape(-1, 4, 4)

    def odometry_poses(self) -> np.ndarray:  # -> [K, 4, 4]
        return np.array(self._odometry).reshape(-1, 4, 4)
