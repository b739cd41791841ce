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
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from benchmarks.products import format_products_table, products_row  # noqa: E402
from device.config import ScannerConfig  # noqa: E402
from products.export import write_map  # noqa: E402
from products.map import MapCloud  # noqa: E402


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("sessions", nargs="*", type=Path)
    ap.add_argument("--export-points", type=int, default=20_000_000)
    ap.add_argument("--export-only", action="store_true", help="no sessions: a clean RSS figure")
    args = ap.parse_args()
    sessions = args.sessions or sorted(Path("out/cache/twin").glob("*-walk-*"))
    if not args.export_only:
        rows = []
        for src in sessions:
            rows.append(products_row(src, ScannerConfig(data_dir=Path(tempfile.gettempdir()))))
            print(f"{src.name}: done", file=sys.stderr, flush=True)
        print(format_products_table(rows))
    n = args.export_points
    rng = np.random.default_rng(0)
    cloud = MapCloud(
        rng.uniform(-100, 100, (n, 3)),
        rng.uniform(0, 255, n).astype(np.float32),
        np.sort(rng.uniform(0, 1200, n)) + 1.767e9,
    )
    data_mb = (cloud.xyz_m.nbytes + cloud.intensity.nbytes + cloud.t_s.nbytes) / 1e6
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = write_map(Path(tmp) / "big.laz", cloud, "laz")
        wall = time.perf_counter() - t0
        print(
            f"LAZ export: {n:,} points in {wall:.1f} s ({n / wall / 1e6:.2f} M points/s),"
            f" {path.stat().st_size / 1e6:.0f} MB; map data {data_mb:.0f} MB, peak RSS of the"
            f" whole process {rss_mb():.0f} MB (run --export-only for a figure of the export alone)"
        )


if __name__ == "__main__":
    main()
