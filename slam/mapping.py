"""Global mapping over the odometry: submaps, loop closure and the pose graph, in one object.

Feed it the odometry's steps (with every deskewed point: the engine's full_scan) and their
sweeps, in order. It cuts them into submaps (slam/submaps.py) by path and time, writes each to
disk when it closes, places its anchor in the pose graph (slam/pose_graph.py), searches and
verifies loops from it to earlier submaps (slam/loop_closure.py), and updates the graph with
iSAM2. Loops are searched by position, then by appearance (each submap's view from above).
`finish` closes the last submap, optimises the whole graph and writes `graph.json`
beside the submaps: the anchors before and after, the loops, and the run's own figures. The
products are the submaps placed at the optimised anchors; the trajectory is every sweep's pose
through its submap's anchor.

The live SLAM worker and the offline processing run this same object.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from drivers.frames import LidarSweep
from slam.config import MappingConfig
from slam.lio_kernels import weakest_translation
from slam.loop_closure import (
    LoopClosure,
    Rejection,
    candidates,
    relative,
    search_radius_m,
    verify,
)
from slam.odometry import OdometryStep
from slam.place_recognition import (
    Fingerprint,
    PlaceMatch,
    guess_3d,
    level,
    match,
    view_from_above,
)
from slam.pose_graph import FREE_SIGMA, PRIOR_SIGMA, PoseGraph
from slam.se3 import so3_log, transform
from slam.submaps import (
    Submap,
    SubmapBuilder,
    SubmapContent,
    load_member,
    submap_path,
    without_outliers,
)

log = logging.getLogger(__name__)

MAX_UNSAVED = 2  # closed submaps waiting for the saver; beyond, the mapping waits

GRAPH_FILE = "graph.json"
COARSE_CACHE = 64  # coarse clouds kept in memory for the loop search


@dataclass(frozen=True)
class MappingResult:
    """What the mapping made of a scan. Poses at the sweeps' times (the odometry's steps)."""

    folder: Path  # the submaps and graph.json
    t_s: np.ndarray  # [N]
    T_world_lidar: np.ndarray  # [N, 4, 4] through the optimised anchors
    T_world_lidar_odometry: np.ndarray  # [N, 4, 4] as the odometry had them
    submap_of_pose: np.ndarray  # [N] int
    T_world_anchor: np.ndarray  # [K, 4, 4] optimised
    T_world_anchor_odometry: np.ndarray  # [K, 4, 4]
    loops: list[LoopClosure]
    rejected: int  # candidates that failed verification
    optimise_s: float  # the final optimisation
    meta: dict = field(default_factory=dict)  # the caller's figures (the odometry's stats)
    between_cov: np.ndarray | None = None  # [K-1, 6, 6] the odometry factors' (rebuild_graph)
    levelled: bool = True  # the odometry's world has z up (gravity factors)

    @property
    def n_submaps(self) -> int:
        return len(self.T_world_anchor)


def blindness(step: OdometryStep, config: MappingConfig) -> tuple[float, np.ndarray]:
    """How blind a step was along its weakest direction of translation -> (0..1, that direction
    [3], world). 1 where the odometry called the step degenerate; else from the share of the
    step's information on that direction, linear from 0 at odometry_weak_share to 1 at
    odometry_blind_share. A step without information (nothing registered) counts 0."""
    if step.degenerate_axis is not None:
        return 1.0, step.degenerate_axis
    share, axis = weakest_translation(step.information)  # axis: unit, or zeros for nothing
    if not np.any(axis):
        return 0.0, axis
    span = max(config.odometry_weak_share - config.odometry_blind_share, 1e-9)
    return float(np.clip((config.odometry_weak_share - share) / span, 0.0, 1.0)), axis


class Mapper:
    def __init__(
        self,
        config: MappingConfig,
        folder: Path,
        content: SubmapContent,
        levelled: bool,
    ) -> None:
        self.config = config
        self.folder = Path(folder)
        if self.folder.exists():  # a run over the same session starts afresh
            strangers = foreign_files(self.folder)
            if strangers:
                raise ValueError(
                    f"{self.folder} holds other files ({', '.join(strangers[:3])}):"
                    " give an empty or new folder for the submaps"
                )
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.content = content
        self.graph = PoseGraph(config, levelled)
        self.loops: list[LoopClosure] = []
        self.rejected = 0
        self.wall_s = 0.0  # time spent here (submaps, loops, graph), not in the odometry
        # where that time goes: filling and writing submaps, searching and verifying loops,
        # updating the graph
        self.phase_s = {"submaps": 0.0, "loop_search": 0.0, "loop_verify": 0.0, "graph": 0.0}
        self.phase_s["outliers_and_save"] = 0.0  # in the saver's thread, beside the rest
        self._saver = ThreadPoolExecutor(1, thread_name_prefix="submap-saver")
        self._saving: dict[int, Future] = {}  # submaps not yet on disk
        self._open: SubmapBuilder | None = None
        self._path_m = 0.0  # walked so far
        self._last_xyz: np.ndarray | None = None
        self._anchor_path_m: list[float] = []  # path at each anchor
        self._poses_t: list[np.ndarray] = []  # per submap [S]
        self._poses_T: list[np.ndarray] = []  # per submap [S, 4, 4] in the anchor's frame
        self._coarse: OrderedDict[int, np.ndarray] = OrderedDict()
        self._fingerprints: list[Fingerprint] = []  # every submap's, for the search by appearance
        # the path the open submap walked along directions the lidar could not see, as
        # sum(length * axis axis^T) in the world frame [3, 3]; and the last closed submap's
        self._blind_m_world = np.zeros((3, 3))
        self._blind_before = np.zeros((3, 3))

    # --- feeding ------------------------------------------------------------------------------
    def add(self, step: OdometryStep, sweep: LidarSweep) -> None:
        """One registered sweep (the loops closed so far are in `loops`)."""
        t0 = time.perf_counter()
        xyz = step.T_world_lidar[:3, 3]
        walked_m = 0.0 if self._last_xyz is None else float(np.linalg.norm(xyz - self._last_xyz))
        self._path_m += walked_m
        self._last_xyz = xyz.copy()
        b = self._open
        t_s = step.t_ns * 1e-9
        if b is not None and (
            b.path_m >= self.config.submap_length_m or t_s - b.first_t_s >= self.config.submap_max_s
        ):
            self._close()
        if self._open is None:
            self._open = SubmapBuilder(
                len(self.graph),
                step.T_world_lidar.copy(),
                self.content,
                self.config.loop_voxel_m,
            )
            self._anchor_path_m.append(self._path_m)
        t1 = time.perf_counter()
        self._open.add(step, sweep)
        blind, a = blindness(step, self.config)
        if blind > 0.0:  # walked where the lidar saw little or no wall ahead
            self._blind_m_world += blind * walked_m * np.outer(a, a)
        t2 = time.perf_counter()
        self.phase_s["submaps"] += t2 - t1
        self.wall_s += t2 - t0

    def _close(self) -> None:
        t0 = time.perf_counter()
        submap = self._open.finish()
        self._open = None
        while len(self._saving) >= MAX_UNSAVED:  # memory stays flat: wait for the oldest
            self._saved(next(iter(self._saving)))
        self._saving[submap.index] = self._saver.submit(self._save, submap)
        self._remember(submap.index, submap.coarse_m)
        t1 = time.perf_counter()
        self.phase_s["submaps"] += t1 - t0
        k = submap.index
        self._poses_t.append(submap.pose_t_s)
        self._poses_T.append(submap.T_anchor_lidar)
        gap = self._anchor_path_m[k] - self._anchor_path_m[k - 1] if k else 0.0
        # from anchor k-1 to k is the previous submap's walk, not this one's
        self.graph.add_anchor(submap.T_world_anchor, gap, self._blind_before)
        self._blind_before, self._blind_m_world = self._blind_m_world, np.zeros((3, 3))
        self.graph.update()  # k's anchor placed on the corrected chain
        self.phase_s["graph"] += time.perf_counter() - t1
        if self.config.loop_closure:
            self._close_loops(k)
        t2 = time.perf_counter()
        self.graph.update()
        self.phase_s["graph"] += time.perf_counter() - t2

    def _save(self, submap: Submap) -> None:
        """Cleared of its outliers and written, in the saver's thread (the k-d tree lets go of
        the GIL: the odometry goes on meanwhile)."""
        t0 = time.perf_counter()
        without_outliers(submap, self.content).save(self.folder)
        self.phase_s["outliers_and_save"] += time.perf_counter() - t0

    def _saved(self, k: int | None = None) -> None:
        """Wait until submap k (None: every submap) is on disk; a failed write raises here."""
        for i in [k] if k is not None else list(self._saving):
            future = self._saving.pop(i, None)
            if future is not None:
                future.result()

    def _remember(self, k: int, coarse_m: np.ndarray) -> None:  # [C, 3]
        self._coarse[k] = coarse_m
        self._coarse.move_to_end(k)
        while len(self._coarse) > COARSE_CACHE:
            self._coarse.popitem(last=False)

    def _coarse_of(self, k: int) -> np.ndarray:  # [C, 3] in k's frame
        if k not in self._coarse:
            self._saved(k)
            self._remember(k, load_member(submap_path(self.folder, k), "coarse_m"))
        self._coarse.move_to_end(k)
        return self._coarse[k]

    def _close_loops(self, j: int) -> LoopClosure | None:
        """Verify the candidates for submap j, by position and then by appearance; the first
        that holds is added to the graph."""
        T = self.graph.poses()
        path = np.array(self._anchor_path_m[: j + 1])
        cfg = self.config
        t0 = time.perf_counter()
        self._fingerprints.append(self._fingerprint(j, T))
        tried = set()
        near = candidates(cfg, T, path, j)
        self.phase_s["loop_search"] += time.perf_counter() - t0
        for i in near:
            tried.add(i)
            radius = search_radius_m(cfg, path[j] - path[i])
            loop = self._try(i, j, T, path, relative(T[i], T[j]), radius, "position")
            if loop is not None:
                return loop
        if not cfg.loop_appearance:
            return None
        t0 = time.perf_counter()
        places = self._places(j, T, path, tried)
        self.phase_s["loop_search"] += time.perf_counter() - t0
        for place in places:
            loop = self._try(
                place.i, j, T, path, place.T_i_j_guess, cfg.loop_appearance_correction_m,
                "appearance",
            )  # fmt: skip
            if loop is not None:
                return loop
        return None

    def _fingerprint(self, j: int, T: np.ndarray) -> Fingerprint:
        return view_from_above(T, self._coarse_of, j, self.graph.levelled)

    def _places(self, j: int, T: np.ndarray, path: np.ndarray, tried: set[int]) -> list[PlaceMatch]:
        """Earlier submaps whose view from above matches j's, best first."""
        cfg = self.config
        T_odo = self.graph.odometry_poses()
        new = self._fingerprints[j]
        T_level_j = level(T_odo[j], self.graph.levelled)
        found = []
        for i in range(j):
            if i in tried or path[j] - path[i] < cfg.loop_min_path_m:
                continue
            m = match(self._fingerprints[i], new, cfg.loop_min_orb_inliers)
            if m is None:
                continue
            M, inliers = m
            T_level_i = level(T_odo[i], self.graph.levelled)
            # height from the graph: the levelled filter's height drift is small
            dz = (T_level_i @ relative(T[i], T[j]))[2, 3]
            found.append(PlaceMatch(i, guess_3d(M, T_level_i, T_level_j, dz), inliers))
        found.sort(key=lambda p: -p.inliers)
        return found[: cfg.loop_candidates]

    def _try(
        self,
        i: int,
        j: int,
        T: np.ndarray,  # [K, 4, 4] the graph's anchors
        path: np.ndarray,
        T_guess: np.ndarray,  # [4, 4]
        max_correction_m: float,
        kind: str,
    ) -> LoopClosure | None:
        t0 = time.perf_counter()
        try:
            return self._verify(i, j, T, path, T_guess, max_correction_m, kind)
        finally:
            self.phase_s["loop_verify"] += time.perf_counter() - t0

    def _verify(self, i, j, T, path, T_guess, max_correction_m, kind) -> LoopClosure | None:
        cfg = self.config
        # the old place with its neighbours, in i's frame
        parts = [
            transform(relative(T[i], T[n]), self._coarse_of(n))
            for n in (i - 1, i, i + 1)
            if 0 <= n < j and path[j] - path[n] >= cfg.loop_min_path_m
        ]
        up_i = T[i][:3, :3].T @ np.array([0.0, 0.0, 1.0])
        found = verify(
            cfg, i, j, np.concatenate(parts), self._coarse_of(j), T_guess, max_correction_m,
            up_i, kind, self.graph.levelled,
        )  # fmt: skip
        if isinstance(found, Rejection):
            self.rejected += 1
            log.debug("%s loop %d-%d refused: %s", kind, i, j, found.reason)
            return None
        # the correction as the graph sees it: from where it had j
        off = np.linalg.inv(relative(T[i], T[j])) @ found.T_i_j
        found = replace(
            found,
            correction_m=float(np.linalg.norm(off[:3, 3])),
            correction_deg=float(np.degrees(np.linalg.norm(so3_log(off[:3, :3])))),
        )
        self.graph.add_loop(i, j, found.T_i_j)
        self.loops.append(found)
        log.info(
            "%s loop %d-%d: moved %.2f m %.2f deg, overlap %.2f, rmse %.3f m",
            kind, i, j, found.correction_m, found.correction_deg, found.overlap, found.rmse_m,
        )  # fmt: skip
        return found

    # --- results ------------------------------------------------------------------------------
    @property
    def n_submaps(self) -> int:
        return len(self.graph) + (self._open is not None)

    def finish(self, meta: dict | None = None) -> MappingResult:
        """Close the last submap, optimise the whole graph, write graph.json."""
        t0 = time.perf_counter()
        if self._open is not None and self._open.n_sweeps:
            self._close()
        self._saved()
        self._saver.shutdown()
        t1 = time.perf_counter()
        self.graph.optimize()
        self.phase_s["graph"] += time.perf_counter() - t1
        optimise_s = time.perf_counter() - t0
        self.wall_s += optimise_s
        result = self._result(meta or {}, optimise_s)
        write_graph(result)
        return result

    def _result(self, meta: dict, optimise_s: float) -> MappingResult:
        anchors, odom = self.graph.poses(), self.graph.odometry_poses()
        K = len(anchors)
        sizes = [len(t) for t in self._poses_t]
        of = np.repeat(np.arange(K), sizes) if K else np.zeros(0, int)
        local = np.concatenate(self._poses_T) if K else np.zeros((0, 4, 4))
        return MappingResult(
            folder=self.folder,
            t_s=np.concatenate(self._poses_t) if K else np.zeros(0),
            T_world_lidar=anchors[of] @ local,
            T_world_lidar_odometry=odom[of] @ local,
            submap_of_pose=of,
            T_world_anchor=anchors,
            T_world_anchor_odometry=odom,
            loops=list(self.loops),
            rejected=self.rejected,
            optimise_s=optimise_s,
            meta={
                **meta,
                "mapping_s": round(self.wall_s, 3),
                "mapping_phase_s": {k: round(v, 3) for k, v in self.phase_s.items()},
            },
            between_cov=np.array(self.graph.between_cov).reshape(-1, 6, 6),
            levelled=self.graph.levelled,
        )


def foreign_files(folder: Path) -> list[str]:
    """What in `folder` is not a mapping's (submaps, graph.json, or either half-written), sorted:
    a new mapping replaces the folder, and must never delete anything else."""
    if not folder.is_dir():
        return [folder.name]

    def mine(name: str) -> bool:
        base = name.removesuffix(".tmp")
        return base == GRAPH_FILE or (base.endswith(".npz") and base[:-4].isdigit())

    return sorted(f.name for f in folder.iterdir() if not mine(f.name))


def write_graph(result: MappingResult) -> Path:
    """graph.json: everything but the points, so the products need only the submap files."""
    doc = {
        "complete": True,
        "submaps": result.n_submaps,
        "T_world_anchor": np.round(result.T_world_anchor, 9).tolist(),
        "T_world_anchor_odometry": np.round(result.T_world_anchor_odometry, 9).tolist(),
        "loops": [
            {
                k: (np.round(v, 9).tolist() if isinstance(v, np.ndarray) else v)
                for k, v in asdict(loop).items()
            }
            for loop in result.loops
        ],  # fmt: skip
        "rejected": result.rejected,
        "optimise_s": round(result.optimise_s, 3),
        "levelled": result.levelled,
        "between_cov": None
        if result.between_cov is None
        else [np.array(c).ravel().tolist() for c in result.between_cov],
        "meta": result.meta,
    }
    path = result.folder / GRAPH_FILE
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)
    return path


def read_graph(folder: Path) -> MappingResult | None:
    """A finished mapping from its folder; None when there is none or it did not finish."""
    from slam.submaps import submap_files

    path = Path(folder) / GRAPH_FILE
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    files = submap_files(Path(folder))
    if not doc.get("complete") or len(files) != doc.get("submaps"):
        return None
    anchors = np.array(doc["T_world_anchor"]).reshape(-1, 4, 4)
    odom = np.array(doc["T_world_anchor_odometry"]).reshape(-1, 4, 4)
    t, local, of = [], [], []
    for k, f in enumerate(files):
        with np.load(f) as z:
            t.append(z["pose_t_s"])
            local.append(z["T_anchor_lidar"])
        of.append(np.full(len(t[-1]), k))
    of_a = np.concatenate(of) if of else np.zeros(0, int)
    local_a = np.concatenate(local) if local else np.zeros((0, 4, 4))
    loops = [LoopClosure(**{**d, "T_i_j": np.array(d["T_i_j"])}) for d in doc.get("loops", [])]
    return MappingResult(
        folder=Path(folder),
        t_s=np.concatenate(t) if t else np.zeros(0),
        T_world_lidar=anchors[of_a] @ local_a,
        T_world_lidar_odometry=odom[of_a] @ local_a,
        submap_of_pose=of_a,
        T_world_anchor=anchors,
        T_world_anchor_odometry=odom,
        loops=loops,
        rejected=int(doc.get("rejected", 0)),
        optimise_s=float(doc.get("optimise_s", 0.0)),
        meta=doc.get("meta", {}),
        between_cov=None
        if doc.get("between_cov") is None
        else np.array(doc["between_cov"], dtype=float).reshape(-1, 6, 6),
        levelled=bool(doc.get("levelled", True)),
    )


def rebuild_graph(result: MappingResult, config: MappingConfig, free: bool = False) -> PoseGraph:
    """A finished mapping's pose graph again (odometry factors with their saved noise, loops,
    gravity), its estimate at the optimised anchors: to add more (control points) and optimise.
    A graph.json without the noises (older) gets the path model without the blind directions.
    `free`: the first anchor is not held where it was (position priors will hold the map)."""
    graph = PoseGraph(config, result.levelled, prior_sigma=FREE_SIGMA if free else PRIOR_SIGMA)
    add_scan(graph, result)
    graph.set_estimate(result.T_world_anchor)
    return graph


def add_scan(
    graph: PoseGraph,
    result: MappingResult,
    T_site_world: np.ndarray | None = None,  # [4, 4] where this scan's world lies in the graph's
) -> int:
    """A finished mapping's anchors, odometry factors and loops into `graph`, after what it
    holds (its first anchor loosely held unless it is the graph's first) -> the index of its
    first anchor there."""
    from slam.submaps import submap_files

    first = len(graph)
    T_site_world = np.eye(4) if T_site_world is None else T_site_world
    odometry = T_site_world @ result.T_world_anchor_odometry  # [K, 4, 4]
    up = T_site_world[:3, 2]  # its world's up, where gravity holds its anchors
    covs = result.between_cov
    if covs is not None and len(covs) == result.n_submaps - 1:
        for k, T in enumerate(odometry):
            graph.add_anchor(T, 0.0, cov=covs[k - 1] if k else None, chained=k > 0, up=up)
    else:
        paths = [float(np.load(f)["path_m"]) for f in submap_files(result.folder)]
        for k, T in enumerate(odometry):
            graph.add_anchor(T, paths[k - 1] if k else 0.0, chained=k > 0, up=up)
    for lc in result.loops:
        graph.add_loop(first + lc.i, first + lc.j, lc.T_i_j)
    return first
