"""A site: several scans of one place joined in one frame.

Each scan comes as its finished mapping (its submaps and graph.json). They are joined as a scan
closes its own loops (slam/mapping.py), across scans:

1. place: every submap of a scan not yet placed is seen from above (slam/place_recognition.py)
   and matched against the submaps of each scan already placed that its features vote for in
   that scan's descriptor index (ViewIndex: not every pair); the best matches are verified
   by registration (slam/loop_closure.verify: small_gicp, with every test a loop passes), and
   the largest group of them that agrees on where the scan's world lies in the site places the
   scan, in all six degrees (two units' IMUs level their worlds a degree or two apart: the
   verification allows SITE_MAX_TILT_DEG here). A scan that overlaps none placed is left out,
   and named.
2. link: with the scans placed, each submap is registered to the other scans' submaps near it
   (as a loop found by position): links through the whole overlap, not only where the views
   from above matched best.
3. one graph: every scan's odometry factors, loops and gravity, and the links, in one GTSAM
   graph (slam/pose_graph.py), each scan's gravity along its own world's up as placed,
   optimised; the first scan's first anchor holds the frame.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np

from slam.config import MappingConfig
from slam.loop_closure import LoopClosure, Rejection, verify
from slam.mapping import MappingResult, add_scan
from slam.place_recognition import (
    Fingerprint,
    ViewIndex,
    guess_3d,
    level,
    match,
    view_from_above,
)
from slam.pose_graph import PoseGraph
from slam.se3 import se3_inv, so3_log, transform
from slam.submaps import load_member, submap_path

log = logging.getLogger(__name__)

PLACE_CANDIDATES = 8  # matches from above verified per pair of scans
INDEX_CANDIDATES = 6  # per submap, the other scan's submaps its descriptors vote for most
INDEX_MIN_VOTES = 3
AGREE_M = 1.0  # verified matches within this (and AGREE_DEG) place a scan alike
AGREE_DEG = 2.0
SITE_MAX_TILT_DEG = 5.0  # two units' levels (their IMUs' calibration) differ by up to this
LINK_RADIUS_M = 10.0  # submaps of two placed scans whose anchors are this near are registered
LINK_CANDIDATES = 2  # per submap and other scan, the nearest
LINK_CORRECTION_M = 1.0  # a placed scan is within this of where the link puts it
GROUND_RADIUS_M = 10.0  # the ground under an anchor: its lowest points within this


@dataclass(frozen=True)
class SiteLink:
    """A verified registration between two scans: submap j of scan b in submap i of scan a."""

    a: int
    i: int
    b: int
    j: int
    T_i_j: np.ndarray  # [4, 4]
    overlap: float
    rmse_m: float
    kind: str  # "appearance" (placed the scan) or "position"


@dataclass(frozen=True)
class Site:
    """The scans in one frame (the first scan's world). Per scan, in the order given."""

    T_site_anchor: list[np.ndarray]  # [K_s, 4, 4] each scan's anchors, optimised; [0] left out
    T_site_world_guess: list[np.ndarray]  # [4, 4] where each scan's world was placed (rigid)
    links: list[SiteLink]
    rejected: int  # registrations that failed verification
    timings_s: dict = field(default_factory=dict)

    @property
    def placed(self) -> list[bool]:
        return [len(T) > 0 for T in self.T_site_anchor]


class _Scan:
    """One scan's anchors, coarse clouds and views from above, loaded once."""

    def __init__(self, result: MappingResult) -> None:
        self.result = result
        self.T = result.T_world_anchor  # [K, 4, 4]
        self.coarse = [
            load_member(submap_path(result.folder, k), "coarse_m").astype(np.float64)
            for k in range(result.n_submaps)
        ]  # [C, 3] each, its anchor's frame
        self.views: list[Fingerprint] = [
            view_from_above(self.T, self.coarse.__getitem__, j, result.levelled)
            for j in range(len(self.T))
        ]
        self.index = ViewIndex(self.views)

    def around(self, i: int) -> np.ndarray:  # -> [N, 3] submap i with its neighbours, i's frame
        near = [n for n in (i - 1, i, i + 1) if 0 <= n < len(self.T)]
        T_i_world = se3_inv(self.T[i])
        return np.concatenate([transform(T_i_world @ self.T[n], self.coarse[n]) for n in near])

    def ground_m(self, j: int) -> float:
        """The ground's height in submap j's levelled frame: the 5th percentile of the heights
        near the anchor."""
        p = transform(level(self.T[j], self.result.levelled), self.coarse[j])
        near = np.linalg.norm(p[:, :2], axis=1) < GROUND_RADIUS_M
        return float(np.percentile(p[near, 2], 5)) if near.sum() > 20 else 0.0


def join(
    results: list[MappingResult],
    config: MappingConfig,
) -> Site:
    """The scans' mappings in one frame (the first's): placed, linked, optimised together."""
    t0 = time.perf_counter()
    scans = [_Scan(r) for r in results]
    t1 = time.perf_counter()
    levelled = all(r.levelled for r in results)
    T_site_world: list[np.ndarray | None] = [np.eye(4)] + [None] * (len(scans) - 1)
    links: list[SiteLink] = []
    rejected = 0
    waiting = list(range(1, len(scans)))
    tried: dict[tuple[int, int], list[SiteLink]] = {}  # each pair matched once
    while waiting:  # place the scan that overlaps the placed ones best, then the next
        best = None
        for b in waiting:
            for a in (s for s, T in enumerate(T_site_world) if T is not None):
                if (a, b) not in tried:
                    tried[a, b], failed = _place(scans[a], scans[b], a, b, config, levelled)
                    rejected += failed
                found = tried[a, b]
                if found and (best is None or len(found) > len(best[2])):
                    best = (a, b, found)
        if best is None:
            break
        a, b, found = best
        # all six degrees: two units' IMUs level their worlds a degree or two apart
        T_site_world[b] = T_site_world[a] @ _agreed(found, scans[a], scans[b])
        links += found
        waiting.remove(b)
        log.info("scan %d placed on scan %d by %d matches from above", b, a, len(found))
    for b in waiting:
        log.warning("scan %d overlaps none of the others: left out of the site", b)
    t2 = time.perf_counter()
    more, failed = _link(scans, T_site_world, links, config, levelled)
    links += more
    rejected += failed
    t3 = time.perf_counter()
    T_site_anchor = _optimise(scans, T_site_world, links, config, levelled)
    t4 = time.perf_counter()
    return Site(
        T_site_anchor=T_site_anchor,
        T_site_world_guess=[np.full((4, 4), np.nan) if T is None else T for T in T_site_world],
        links=links,
        rejected=rejected,
        timings_s={
            "load": round(t1 - t0, 3),
            "place": round(t2 - t1, 3),
            "link": round(t3 - t2, 3),
            "graph": round(t4 - t3, 3),
        },
    )


def _place(
    sa: _Scan, sb: _Scan, a: int, b: int, config: MappingConfig, levelled: bool
) -> tuple[list[SiteLink], int]:
    """Scan b's submaps found in scan a by their views from above, verified -> (links, failed)."""
    matches = []  # (inliers, i, j, M)
    for j, view_j in enumerate(sb.views):  # matched with the few of a's that the index names
        for i in sa.index.candidates(view_j, INDEX_CANDIDATES, INDEX_MIN_VOTES):
            m = match(sa.views[i], view_j, config.loop_min_orb_inliers)
            if m is not None:
                matches.append((m[1], i, j, m[0]))
    matches.sort(key=lambda m: -m[0])
    found, failed = [], 0
    # each unit's IMU levels its own world: two may differ by more than a loop's tilt
    config = config.model_copy(
        update={"loop_max_tilt_deg": max(config.loop_max_tilt_deg, SITE_MAX_TILT_DEG)}
    )
    for _, i, j, M in matches[:PLACE_CANDIDATES]:
        T_level_i, T_level_j = level(sa.T[i], levelled), level(sb.T[j], levelled)
        guess = guess_3d(M, T_level_i, T_level_j, sa.ground_m(i) - sb.ground_m(j))
        up_i = sa.T[i][:3, :3].T @ np.array([0.0, 0.0, 1.0])
        loop = verify(
            config, i, j, sa.around(i), sb.coarse[j], guess, config.loop_appearance_correction_m,
            up_i, "appearance", levelled,
        )  # fmt: skip
        if isinstance(loop, Rejection):
            failed += 1
            log.debug("scan %d submap %d in scan %d submap %d: %s", b, j, a, i, loop.reason)
            continue
        found.append(_link_of(a, b, loop))
    return found, failed


def _link_of(a: int, b: int, loop: LoopClosure) -> SiteLink:
    return SiteLink(a, loop.i, b, loop.j, loop.T_i_j, loop.overlap, loop.rmse_m, loop.kind)


def _agreed(found: list[SiteLink], sa: _Scan, sb: _Scan) -> np.ndarray:  # -> [4, 4] T_a_b
    """Where scan b's world lies in scan a's, by the largest group of links that agree (the
    best fitting of it)."""
    Ts = [sa.T[k.i] @ k.T_i_j @ se3_inv(sb.T[k.j]) for k in found]

    def agree(T1: np.ndarray, T2: np.ndarray) -> bool:
        dR = np.degrees(np.linalg.norm(so3_log(T1[:3, :3].T @ T2[:3, :3])))
        return bool(np.linalg.norm(T1[:3, 3] - T2[:3, 3]) < AGREE_M and dR < AGREE_DEG)

    support = [sum(agree(T, U) for U in Ts) for T in Ts]
    top = max(support)
    best = min((k for k in range(len(Ts)) if support[k] == top), key=lambda k: found[k].rmse_m)
    return Ts[best]


def _link(
    scans: list[_Scan],
    T_site_world: list[np.ndarray | None],
    have: list[SiteLink],
    config: MappingConfig,
    levelled: bool,
) -> tuple[list[SiteLink], int]:
    """Every submap registered to the other placed scans' submaps near it -> (links, failed)."""
    done = {(k.a, k.i, k.b, k.j) for k in have}
    placed = [s for s, T in enumerate(T_site_world) if T is not None]
    anchors = {s: T_site_world[s] @ scans[s].T for s in placed}  # [K, 4, 4] in the site
    found, failed = [], 0
    for ia, a in enumerate(placed):
        for b in placed[ia + 1 :]:
            for j in range(len(anchors[b])):
                d = np.linalg.norm(anchors[a][:, :3, 3] - anchors[b][j, :3, 3], axis=1)
                for i in np.argsort(d)[:LINK_CANDIDATES]:
                    i = int(i)
                    if d[i] > LINK_RADIUS_M or (a, i, b, j) in done:
                        continue
                    guess = se3_inv(anchors[a][i]) @ anchors[b][j]
                    up_i = scans[a].T[i][:3, :3].T @ np.array([0.0, 0.0, 1.0])
                    loop = verify(
                        config, i, j, scans[a].around(i), scans[b].coarse[j], guess,
                        LINK_CORRECTION_M, up_i, "position", levelled,
                    )  # fmt: skip
                    if isinstance(loop, Rejection):
                        failed += 1
                        continue
                    found.append(_link_of(a, b, loop))
    return found, failed


def _optimise(
    scans: list[_Scan],
    T_site_world: list[np.ndarray | None],
    links: list[SiteLink],
    config: MappingConfig,
    levelled: bool,
) -> list[np.ndarray]:
    """One graph of every placed scan and the links -> each scan's anchors in the site."""
    graph = PoseGraph(config, levelled)
    first: dict[int, int] = {}
    estimate = []
    for s, T in enumerate(T_site_world):
        if T is None:
            continue
        first[s] = add_scan(graph, scans[s].result, T)
        estimate.append(T @ scans[s].T)
    for k in links:
        graph.add_loop(first[k.a] + k.i, first[k.b] + k.j, k.T_i_j)
    graph.set_estimate(np.concatenate(estimate))
    graph.optimize()
    poses = graph.poses()
    return [
        poses[first[s] : first[s] + len(scans[s].T)] if s in first else np.zeros((0, 4, 4))
        for s in range(len(scans))
    ]
