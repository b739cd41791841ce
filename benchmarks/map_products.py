"""Map products: accuracy against the twin's mesh, processing time, and export speed.

    .venv/bin/python benchmarks/map_products.py [SESSION ...] [--export-points 20000000]

For each twin session (default: the `scanner bench` cache, walk sequences), processes a copy
(SLAM, 2 cm map, outlier removal, colour, PLY/LAZ/E57/PCD) and reports the cloud-to-mesh
distance of the map against scene.ply (targets: median <= 2 cm, p95 <= 5 cm) and the colour
error against the twin's shaded albedo (target: median <= 10 of 255). Then writes a synthetic map
of --export-points points to LAZ and reports the time and the peak memory above the map's own
(targets: 20 M points under 60 s, peak under twice the point data).
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from device.config import ScannerConfig  # noqa: E402
from device.processing import process_session  # noqa: E402
from device.products.accuracy import (  # noqa: E402
    session_colour_accuracy,
    session_map_accuracy,
)
from device.products.export import write_map  # noqa: E402
from device.products.map import MapCloud  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sessions", nargs="*", type=Path)
    ap.add_argument("--export-points", type=int, default=20_000_000)
    ap.add_argument("--export-only", action="store_true", help="no sessions: a clean RSS figure")
    args = ap.parse_args()
    sessions = args.sessions or sorted(Path("out/cache/twin").glob("*-walk-*"))
    if args.export_only:
        sessions = []
    print(
        "| session | map points | median [cm] | p95 [cm] | within 5 cm | coloured |"
        " colour error, median / p90 [of 255] | processing [s] |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for src in sessions:
            dst = Path(tmp) / src.name
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("products"))
            t0 = time.perf_counter()
            process_session(dst, ScannerConfig(data_dir=Path(tmp)))
            wall = time.perf_counter() - t0
            acc = session_map_accuracy(dst)
            col = session_colour_accuracy(dst)
            colour = (
                f"{col['median_error']:.1f} / {col['p90_error']:.1f}"
                if "median_error" in col
                else "-"
            )
            print(
                f"| {src.name} | {acc['points']:,} | {acc['median_m'] * 100:.2f} |"
                f" {acc['p95_m'] * 100:.2f} | {acc['within_5cm'] * 100:.1f} % |"
                f" {col['coloured_fraction'] * 100:.0f} % | {colour} | {wall:.1f} |",
                flush=True,
            )
            shutil.rmtree(dst)
        n = args.export_points
        rng = np.random.default_rng(0)
        cloud = MapCloud(
            rng.uniform(-100, 100, (n, 3)),
            rng.uniform(0, 255, n).astype(np.float32),
            np.sort(rng.uniform(0, 1200, n)) + 1.767e9,
        )
        data_mb = (cloud.xyz_m.nbytes + cloud.intensity.nbytes + cloud.t_s.nbytes) / 1e6
        before = rss_mb()  # the process's peak so far: the map is already in memory
        t0 = time.perf_counter()
        path = write_map(Path(tmp) / "big.laz", cloud, "laz")
        wall = time.perf_counter() - t0
        print(
            f"\nLAZ export: {n:,} points in {wall:.1f} s ({n / wall / 1e6:.2f} M points/s),"
            f" {path.stat().st_size / 1e6:.0f} MB; map data {data_mb:.0f} MB, peak RSS"
            f" {rss_mb():.0f} MB ({rss_mb() - before:.0f} MB above the RSS before writing)"
        )


if __name__ == "__main__":
    main()
