"""Which nearest-neighbour kernel should the odometry's map use? Measured on a real local map.

    .venv/bin/python benchmarks/knn_kernels.py [BALM_DIR]

Builds the local map of the first 30 BALM scans (at the odometry's map resolution), then times,
for one scan's registration points, the k=8 neighbour search every registration iteration needs:
  - scipy cKDTree and small_gicp KdTree, which must be rebuilt whenever the map changes (every
    sweep), so their build time counts;
  - our incremental hashed voxel map, which takes each sweep in place and also fits the planes.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from drivers.frames import LidarSweep
from slam.config import OdometryConfig
from slam.odometry import LidarOdometry
from slam.preprocess import voxel_downsample


def best_of(fn, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times) * 1e3


def main() -> None:
    balm = (
        Path(sys.argv[1])
        if len(sys.argv) > 1
        else Path(__file__).parents[2] / "shared/data/real/balm"
    )
    cfg = OdometryConfig()
    odom = LidarOdometry(cfg)
    for i in range(30):
        with np.load(balm / f"scan_{i:03d}.npz") as z:
            step = odom.register_frame(LidarSweep(t_ns=i * 500_000_000, xyz_m=z["xyz_2mm"] * 0.002))
    map_points = odom.map.points()
    frame = step.points_world
    queries = frame[voxel_downsample(frame, cfg.refine_source_voxel_m)]
    k = cfg.plane_neighbors
    print(f"local map {len(map_points):,} points, {len(queries):,} query points, k={k}")

    tree = cKDTree(map_points)
    rows = [
        ("scipy cKDTree: build", best_of(lambda: cKDTree(map_points))),
        ("scipy cKDTree: query (2 workers)", best_of(lambda: tree.query(queries, k, workers=2))),
    ]
    try:
        import small_gicp

        sg_tree = small_gicp.KdTree(map_points, 2)
        rows += [
            (
                "small_gicp KdTree: build (2 threads)",
                best_of(lambda: small_gicp.KdTree(map_points, 2)),
            ),
            (
                "small_gicp KdTree: query (2 threads)",
                best_of(lambda: sg_tree.batch_knn_search(queries, k, 2)),
            ),
        ]
    except ImportError:
        print("small_gicp not installed: pip install small_gicp")
    rows += [
        ("voxel map: insert one sweep", best_of(lambda: odom.map.add(frame))),
        ("voxel map: query + plane fits", best_of(lambda: odom.map.fit_planes(queries, k))),
    ]
    for name, ms in rows:
        print(f"{name:40s} {ms:8.2f} ms")


if __name__ == "__main__":
    main()
