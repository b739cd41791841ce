"""A site's products: several processed scans joined in one frame (slam/site.py) and written
as one map, one E57 with a scan per session and its pose, each session's trajectory in the
site, and site.json (which scans, where each lies, the links between them, how well they
meet in their overlaps).

The site's frame is the first session's map frame. Each session's map is bent by the joint
graph (its own loops and the links to the others hold it); its pose in the site (the E57
scan's pose, site.json's T_site_session) is the rigid fit of its anchors as its own mapping had
them onto the site's.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from products.export import map_file
from products.map import MapCloud, ProductsConfig, map_from_files, map_from_submaps
from slam.config import MappingConfig
from slam.se3 import se3_inv, transform

log = logging.getLogger(__name__)

SITE_FILE = "site.json"
SUBMAPS = "submaps"
TRAJECTORIES = "trajectories"  # NAME.tum: each session's poses in the site
FORMATS = ("laz", "ply", "e57", "copc")
# the residual in an overlap (surface_distances)
RESIDUAL_SAMPLE = 200_000  # of the newer scan's points, to find the overlap
OVERLAP_M = 0.1  # b's point has one of a's this near: both saw that place
CORE_POINTS = 20_000  # where patches are compared
VOXEL_M = 0.05  # both clouds averaged in cells this big first
PATCH_M = 0.5  # a patch: the cells within this of a core point
PATCH_K = 128  # at most this many
MIN_PATCH = 10
CHUNK = 2_000_000


class SiteError(ValueError):
    """The sessions cannot make a site (not processed, one alone, names twice)."""


@dataclass(frozen=True)
class Overlap:
    """How two scans meet: the distances between their surfaces (surface_distances)."""

    a: str
    b: str
    links: int
    patches: int  # planar patches both saw
    rms_m: float
    median_m: float


def make_site(
    out_dir: Path,
    sessions: list[Path],
    mapping: MappingConfig,
    products: ProductsConfig,
    formats: tuple[str, ...] = ("laz", "e57"),
    on_progress: Callable[[str, float], None] | None = None,
) -> dict:
    """Join the processed sessions into a site in out_dir -> site.json's content."""
    from slam.mapping import read_graph
    from slam.site import join
    from slam.submaps import submap_files

    report = on_progress or (lambda stage, f: None)
    names = [Path(s).name for s in sessions]
    if len(sessions) < 2:
        raise SiteError("a site needs at least two sessions")
    if len(set(names)) != len(names):
        raise SiteError(f"two sessions share a folder name: {names}")
    bad = [f for f in formats if f not in FORMATS]
    if bad:
        raise SiteError(f"unknown format {bad[0]!r}; choose from {', '.join(FORMATS)}")
    results = []
    for s in sessions:
        r = read_graph(Path(s) / SUBMAPS)
        if r is None or r.n_submaps == 0:
            raise SiteError(
                f"{s}: not processed (no finished {SUBMAPS}/): run scanner export first"
            )
        results.append(r)
    t0 = time.perf_counter()
    report("joining", 0.0)
    site = join(results, mapping)
    t_join = time.perf_counter() - t0
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    placed = [s for s in range(len(sessions)) if site.placed[s]]
    T_site_session = {s: _rigid(results[s].T_world_anchor, site.T_site_anchor[s]) for s in placed}
    (out_dir / TRAJECTORIES).mkdir(exist_ok=True)
    for s in placed:
        _write_trajectory(out_dir / TRAJECTORIES / f"{names[s]}.tum", results[s], site, s)

    work = out_dir / ".map"
    written = []
    try:
        t1 = time.perf_counter()
        maps_formats = [f for f in formats if f != "e57"]
        if maps_formats:
            report("map", 0.1)
            files = [f for s in placed for f in submap_files(results[s].folder)]
            anchors = np.concatenate([site.T_site_anchor[s] for s in placed])
            cloud = map_from_files(files, anchors, products, work / "site")
            for fmt in maps_formats:
                written.append(_write(out_dir / map_file(fmt), cloud, fmt, products.map_voxel_m))
        t2 = time.perf_counter()
        report("scans", 0.5)
        clouds = {
            s: map_from_submaps(results[s].folder, site.T_site_anchor[s], products, work / names[s])
            for s in placed
        }
        overlaps = _overlaps(site, clouds, names)
        if "e57" in formats:
            from products.export import write_e57_scans

            scans = [
                (names[s], _into(clouds[s], se3_inv(T_site_session[s]), work / f"{s}.npy"),
                 T_site_session[s])
                for s in placed
            ]  # fmt: skip
            write_e57_scans(out_dir / "map.e57", scans)
            written.append(out_dir / "map.e57")
        t3 = time.perf_counter()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    doc = {
        "sessions": [
            {
                "name": names[s],
                "path": str(Path(sessions[s]).resolve()),
                "placed": bool(site.placed[s]),
                "submaps": results[s].n_submaps,
                "T_site_session": np.round(T_site_session[s], 9).tolist() if s in placed else None,
            }
            for s in range(len(sessions))
        ],
        "links": [
            {
                "a": names[k.a],
                "i": k.i,
                "b": names[k.b],
                "j": k.j,
                "kind": k.kind,
                "overlap": round(k.overlap, 3),
                "rmse_m": round(k.rmse_m, 4),
            }
            for k in site.links
        ],  # fmt: skip
        "rejected": site.rejected,
        "overlaps": [o.__dict__ for o in overlaps],
        "products": [p.name for p in written] + [TRAJECTORIES],
        "timings_s": {
            **site.timings_s,
            "join": round(t_join, 3),
            "map": round(t2 - t1, 3),
            "scans_and_e57": round(t3 - t2, 3),
        },
    }
    (out_dir / SITE_FILE).write_text(json.dumps(doc, indent=1))
    report("done", 1.0)
    return doc


def _rigid(T_before: np.ndarray, T_after: np.ndarray) -> np.ndarray:  # [K, 4, 4] x2 -> [4, 4]
    """The rigid transform taking the anchors as the scan had them onto the site's."""
    from products.georef import fit_transform

    if len(T_before) >= 3:
        try:
            return fit_transform(T_before[:, :3, 3], T_after[:, :3, 3])
        except ValueError:  # collinear anchors: the first's pose
            pass
    return T_after[0] @ se3_inv(T_before[0])


def _write_trajectory(path: Path, result, site, s: int) -> None:
    from drivers.sessions.trajectory import write_tum

    of = result.submap_of_pose  # [N]
    local = np.linalg.inv(result.T_world_anchor[of]) @ result.T_world_lidar  # [N, 4, 4]
    write_tum(path, result.t_s, site.T_site_anchor[s][of] @ local)


def _write(path: Path, cloud: MapCloud, fmt: str, voxel_m: float) -> Path:
    from products.export import write_map

    return write_map(path, cloud, fmt, voxel_m=voxel_m)


def _into(cloud: MapCloud, T: np.ndarray, path: Path) -> MapCloud:
    """The cloud's points through T, written chunk by chunk to a memory-mapped file."""
    xyz = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=cloud.xyz_m.shape)
    for a in range(0, len(cloud), CHUNK):
        xyz[a : a + CHUNK] = transform(T, np.asarray(cloud.xyz_m[a : a + CHUNK]))
    return MapCloud(xyz, cloud.intensity, cloud.t_s, cloud.rgb, cloud.coloured)


def _overlaps(site, clouds: dict[int, MapCloud], names: list[str]) -> list[Overlap]:
    """For each pair of linked scans, b's map points against a's surfaces."""
    pairs: dict[tuple[int, int], int] = {}
    for k in site.links:
        pairs[(k.a, k.b)] = pairs.get((k.a, k.b), 0) + 1
    out = []
    for (a, b), n in sorted(pairs.items()):
        rms, med, used = surface_distances(clouds[a].xyz_m, clouds[b].xyz_m)
        out.append(Overlap(names[a], names[b], n, used, rms, med))
        log.info("%s -> %s: %d patches, RMS %.4f m", names[b], names[a], used, rms)
    return out


def surface_distances(
    xyz_a: np.ndarray,  # [N, 3]
    xyz_b: np.ndarray,  # [M, 3]
    seed: int = 0,
) -> tuple[float, float, int]:
    """How far b's surfaces lie from a's where both saw them -> (RMS, median |d|, patches).

    M3C2-like (Lague et al. 2013), so that the maps' own noise (each point of a 2 cm map is
    one return, centimetres of range noise) averages out and what is left is their
    misalignment: both clouds in the overlap are averaged in VOXEL_M cells; at up to
    CORE_POINTS of b's points that have a point of a within OVERLAP_M, each cloud's cells
    within PATCH_M are a patch; where a's is a plane (its thinnest axis under 5 % of the next,
    not a line), d is the distance from a's patch mean to b's along a's normal."""
    from scipy.spatial import cKDTree

    rng = np.random.default_rng(seed)
    pick = rng.choice(len(xyz_b), min(RESIDUAL_SAMPLE, len(xyz_b)), replace=False)
    q = np.asarray(xyz_b)[np.sort(pick)]  # [S, 3]
    pa = _voxel_means(_inside(xyz_a, q.min(axis=0) - 1.0, q.max(axis=0) + 1.0), VOXEL_M)
    if len(pa) < MIN_PATCH:
        return float("nan"), float("nan"), 0
    tree_a = cKDTree(pa)
    near, _ = tree_a.query(q, 1, distance_upper_bound=OVERLAP_M, workers=-1)
    core = q[np.isfinite(near)][:CORE_POINTS]  # [C, 3]
    if len(core) == 0:
        return float("nan"), float("nan"), 0
    pb = _voxel_means(
        _inside(xyz_b, core.min(axis=0) - PATCH_M, core.max(axis=0) + PATCH_M), VOXEL_M
    )
    tree_b = cKDTree(pb)
    ma, na, cov = _patches(tree_a, pa, core)
    mb, nb, _ = _patches(tree_b, pb, core)
    w, v = np.linalg.eigh(cov)  # ascending
    plane = (na >= MIN_PATCH) & (nb >= MIN_PATCH)
    plane &= (w[:, 0] < 0.05 * w[:, 1]) & (w[:, 1] > 0.1 * w[:, 2])
    d = np.einsum("ci,ci->c", mb - ma, v[:, :, 0])[plane]
    if len(d) == 0:
        return float("nan"), float("nan"), 0
    return float(np.sqrt(np.mean(d**2))), float(np.median(np.abs(d))), int(len(d))


def _inside(xyz: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:  # [N, 3] -> [n, 3]
    """The points in a box, read in chunks (a memory-mapped map stays on disk)."""
    parts = [np.asarray(xyz[i : i + CHUNK]) for i in range(0, len(xyz), CHUNK)]
    return np.concatenate([p[((p >= lo) & (p <= hi)).all(axis=1)] for p in parts] or [[]])


def _voxel_means(xyz: np.ndarray, voxel_m: float) -> np.ndarray:  # [N, 3] -> [V, 3]
    """One mean point per voxel (slam.submaps.VoxelMeans: the submaps' compiled merge)."""
    from slam.submaps import VoxelMeans

    means = VoxelMeans(voxel_m)
    means.add(xyz, np.zeros(len(xyz), np.float32), np.zeros(len(xyz)))
    return means.result()[0]


def _patches(tree, pts: np.ndarray, core: np.ndarray):  # -> [C, 3] mean, [C] count, [C, 3, 3]
    d, idx = tree.query(core, PATCH_K, distance_upper_bound=PATCH_M, workers=-1)
    found = np.isfinite(d)  # [C, K]
    n = found.sum(axis=1)
    nb = np.where(found[..., None], pts[np.minimum(idx, len(pts) - 1)], 0.0)  # [C, K, 3]
    mean = nb.sum(axis=1) / np.maximum(n, 1)[:, None]
    x = (nb - mean[:, None]) * found[..., None]
    return mean, n, np.einsum("cki,ckj->cij", x, x) / np.maximum(n, 1)[:, None, None]
