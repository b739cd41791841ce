"""Two missions over the campus twin joined into one site (products/site.py), against the truth.

Mission A walks the campus loop from its start (`--a-seconds`, default 300 s, ~400 m); mission B,
another day and another unit (seed 1: its own IMU errors and walk), enters the same loop
`--overlap-m` (default 20 m) before where A stopped and walks on (`--b-seconds`, default 120 s).
Both are twin sessions with the `datasheet` realism profile, cached (benchmarks.twin), processed
as the scanner processes a scan, then joined.

Figures: the site's time and peak memory (the joining alone, and with the map, the E57 and the
overlap residual); the links found; the overlap residual (products.site.surface_distances: the
two maps' surfaces apart, RMS); and B's trajectory in the site against the truth, in A's frame
where they meet (A's drift up to there taken out: A's last 20 m fitted to the truth), over B's
first 20 m (the overlap) and beyond.

    python -m benchmarks.site_merge [--cache out/cache/site] [--out out/site_merge]
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import shutil
import time
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)


def truth_check(site_dir: Path, a: Path, b: Path) -> dict:
    """B's positions in the site against the truth in A's frame where A ends (m, RMS), over
    B's walk in bands of path."""
    from scipy.spatial.transform import Rotation

    from drivers.sessions.trajectory import poses_at, read_tum

    def on_truth(session: Path):
        t, T = read_tum(site_dir / "trajectories" / f"{session.name}.tum")
        tg, Tg = read_tum(session / "ground_truth.tum")
        keep, G = poses_at(t, tg, Tg)
        return T[keep], G

    Ta, Ga = on_truth(a)
    Tb, Gb = on_truth(b)

    def path_m(G: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [[0.0], np.cumsum(np.linalg.norm(np.diff(G[:, :3, 3], axis=0), axis=1))]
        )

    pa = path_m(Ga)
    end = np.flatnonzero(pa > pa[-1] - 20.0)  # A's last 20 m: its frame there, in the truth's
    M = [Ga[k] @ np.linalg.inv(Ta[k]) for k in end]
    R = Rotation.from_matrix([m[:3, :3] for m in M]).mean().as_matrix()
    t = np.mean([m[:3, 3] for m in M], axis=0)

    def rms(T: np.ndarray, G: np.ndarray) -> float:
        e = T[:, :3, 3] @ R.T + t - G[:, :3, 3]
        return float(np.sqrt(np.mean(np.sum(e**2, axis=1))))

    pb = path_m(Gb)
    out = {"a_last_20m_rms_m": rms(Ta[end], Ga[end])}
    for lo, hi in ((0, 20), (20, 40), (40, 80)):
        band = (pb >= lo) & (pb < hi)
        if band.any():
            out[f"b_{lo}_{hi}m_rms_m"] = rms(Tb[band], Gb[band])
    return out


def main() -> None:
    from benchmarks.twin import twin_session
    from device.config import ScannerConfig
    from device.processing import needs_processing, process_session
    from drivers.sim.scenes.catalog import make_scene
    from products.site import make_site

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cache", type=Path, default=Path("out/cache/site"))
    p.add_argument("--out", type=Path, default=Path("out/site_merge"))
    p.add_argument("--a-seconds", type=float, default=300.0)
    p.add_argument("--b-seconds", type=float, default=120.0)
    p.add_argument("--overlap-m", type=float, default=20.0)
    a = p.parse_args()

    config = ScannerConfig()
    session_a = twin_session(a.cache, "campus", "walk", a.a_seconds, 0, "datasheet")
    # where A stopped along the loop: the walk path's arc length nearest its last true position
    from drivers.sessions.trajectory import read_tum

    _, T = read_tum(session_a / "ground_truth.tum")
    ring = np.asarray(make_scene("campus", 0).walk_path, float)
    ring = np.vstack([ring, ring[:1]])
    seg = np.diff(ring[:, :2], axis=0)
    cum = np.concatenate([[0.0], np.cumsum(np.linalg.norm(seg, axis=1))])
    along = np.einsum("ij,ij->i", T[-1, :2, 3] - ring[:-1, :2], seg)
    f = np.clip(along / np.maximum((seg**2).sum(axis=1), 1e-12), 0.0, 1.0)
    gap = np.linalg.norm(ring[:-1, :2] + f[:, None] * seg - T[-1, :2, 3], axis=1)
    k = int(np.argmin(gap))
    start_m = float(cum[k] + f[k] * np.linalg.norm(seg[k]) - a.overlap_m)
    session_b = twin_session(
        a.cache, "campus", "walk", a.b_seconds, 1, "datasheet", start_m=int(start_m), scene_seed=0
    )
    work = a.out / "sessions"
    work.mkdir(parents=True, exist_ok=True)
    sessions = []
    for s in (session_a, session_b):
        dst = work / s.name
        if not dst.exists():
            shutil.copytree(s, dst)
        if needs_processing(dst):
            log.info("processing %s ...", dst.name)
            process_session(dst, config)
        sessions.append(dst)
    site_dir = a.out / "site"
    shutil.rmtree(site_dir, ignore_errors=True)
    t0 = time.perf_counter()
    doc = make_site(site_dir, sessions, config.mapping, config.products, ("laz", "e57"))
    wall = time.perf_counter() - t0
    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    figures = {
        "b_start_m": int(start_m),
        "site_s": round(wall, 1),
        "peak_rss_gb": round(peak_gb, 2),
        "timings_s": doc["timings_s"],
        "links": len(doc["links"]),
        "rejected": doc["rejected"],
        "overlaps": doc["overlaps"],
        **truth_check(site_dir, *sessions),
    }
    (a.out / "site_merge.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
