"""What bounds a splat's held-out PSNR on a processed twin session, measured against the twin:

1. the SLAM's camera pose error alone: the twin renders each held-out keyframe at its true pose
   and at its SLAM pose, and both are compared with the recorded JPEG (the first shows the JPEG
   and the time stamps are right, the second is the best PSNR any splat scored at the SLAM poses
   could reach), at full, half and quarter size;
2. the LiDAR's blind zone: how much of each keyframe no map point falls in (by image third);
3. the blind-zone points (`splat/triangulate.py`): how many, how far from the twin's true
   surfaces (by height), and how long they take, with the SLAM's and with the true poses.

    .venv/bin/python benchmarks/splat_twin_limits.py SESSION_DIR [--out limits.json]
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

log = logging.getLogger("splat_twin_limits")


def _psnr(a: np.ndarray, b: np.ndarray) -> float:  # uint8 images
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2) / 255.0**2
    return float(10 * np.log10(1 / max(mse, 1e-12)))


def _resize(img: np.ndarray, s: float) -> np.ndarray:
    h, w = img.shape[:2]
    return cv2.resize(img, (round(w * s), round(h * s)), interpolation=cv2.INTER_AREA)


def true_camera_poses(
    session: Path,
    cal,  # CameraCalibration
    t_s: np.ndarray,  # [K] the images' times
) -> tuple[np.ndarray, np.ndarray]:
    """A twin session's true camera poses at t_s, in the SLAM's world -> (T_truth_slam [4, 4]:
    the SLAM's world in the twin's, T_world_camera [K, 4, 4])."""
    from drivers.sessions.trajectory import read_tum
    from products.accuracy import align_trajectory
    from products.colour import camera_poses

    t_slam, T_world_lidar = read_tum(session / "products" / "trajectory.tum")
    t_gt, T_gt = read_tum(session / "ground_truth.tum")
    T_truth_slam = align_trajectory(t_slam, T_world_lidar, t_gt, T_gt)
    inside, T_wc_truth = camera_poses(t_s, t_gt, T_gt, np.array(cal.T_lidar_camera))
    if not inside.all():
        raise ValueError(f"{session}: images outside the ground truth's time span")
    return T_truth_slam, np.linalg.inv(T_truth_slam) @ T_wc_truth


def measure(session: Path) -> dict:
    from scipy.spatial import cKDTree

    from drivers.sessions.manifest import read_manifest
    from drivers.sim.camera import CameraModel, render
    from drivers.sim.scenes.catalog import make_scene
    from drivers.sim.scenes.raycast import Raycaster
    from splat.camera import opencv_K
    from splat.config import TrainConfig
    from splat.keyframes import blind_zone, pick_keyframes
    from splat.triangulate import lidar_coverage

    cfg = TrainConfig()
    cal, frames, T_wc, map_xyz_rgb = pick_keyframes(session, cfg)
    sim = read_manifest(session).config["sim"]
    scene = make_scene(sim["scene"], sim["seed"])
    raycaster = Raycaster(scene)
    camera = CameraModel(cal.width, cal.height, cal.fx, cal.fy, cal.cx, cal.cy)
    T_truth_slam, T_wc_true_slam = true_camera_poses(
        session, cal, np.array([f.t_s for f in frames])
    )
    T_wc_true = T_truth_slam @ T_wc_true_slam  # in the twin's world, as it renders
    T_wc_slam = T_truth_slam @ T_wc  # the SLAM's camera poses in the twin's world
    images = [
        cv2.imdecode(np.frombuffer(f.jpeg, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1].copy()
        for f in frames
    ]
    held_out = range(0, len(frames), cfg.holdout_every)

    # 1. pose error alone
    rows = []
    for i in held_out:
        true_render = render(raycaster, scene, camera, T_wc_true[i])
        slam_render = render(raycaster, scene, camera, T_wc_slam[i])
        rows.append(
            [_psnr(images[i], true_render)]
            + [_psnr(_resize(images[i], s), _resize(slam_render, s)) for s in (1.0, 0.5, 0.25)]
        )
    r = np.mean(rows, axis=0)
    pose = {
        "views": len(rows),
        "jpeg_vs_true_pose_render_db": round(float(r[0]), 2),
        "slam_pose_render_db": {
            "1.0": round(r[1], 2),
            "0.5": round(r[2], 2),
            "0.25": round(r[3], 2),
        },
    }

    # 2. the blind zone: 16 px cells no map point falls in, nor in a neighbouring cell
    K = opencv_K(cal)
    thirds = []
    for i in held_out:
        grid = lidar_coverage(
            map_xyz_rgb[:, :3], K, np.linalg.inv(T_wc[i]), cal.width, cal.height, 16
        )
        n = len(grid)
        thirds.append([1 - grid[a * n // 3 : (a + 1) * n // 3].mean() for a in range(3)])
    blind_fraction = [round(float(x), 3) for x in np.mean(thirds, axis=0)]

    # 3. the blind-zone points against the twin's surfaces
    surface = []
    rays = camera.pixel_rays().reshape(cal.height, cal.width, 3)[::2, ::2].reshape(-1, 3)
    for T in T_wc_true[::2]:
        d = rays @ T[:3, :3].T
        hits = raycaster.cast(T[:3, 3], d)
        surface.append(T[:3, 3] + d[hits.hit] * hits.range_m[hits.hit, None])
    tree = cKDTree(np.concatenate(surface))
    points = {}
    jpegs = [f.jpeg for f in frames]
    for name, poses in (("slam_poses", T_wc), ("true_poses", T_wc_true_slam)):
        t0 = time.perf_counter()
        pts = blind_zone(cal, jpegs, poses, map_xyz_rgb[:, :3])
        seconds = time.perf_counter() - t0
        xyz = pts[:, :3] @ T_truth_slam[:3, :3].T + T_truth_slam[:3, 3]
        dist = tree.query(xyz)[0]
        entry = {"points": len(pts), "seconds": round(seconds, 1)}
        for band, sel in (
            ("all", np.ones(len(xyz), bool)),
            ("floor_z_below_0.1m", xyz[:, 2] < 0.1),
            ("z_0.1_to_1m", (xyz[:, 2] >= 0.1) & (xyz[:, 2] < 1.0)),
            ("z_above_1m", xyz[:, 2] >= 1.0),
        ):
            if sel.any():
                entry[band] = {
                    "points": int(sel.sum()),
                    "median_mm": round(1000 * float(np.median(dist[sel])), 1),
                    "p90_mm": round(1000 * float(np.percentile(dist[sel], 90)), 1),
                    "over_10cm_pct": round(100 * float(np.mean(dist[sel] > 0.1)), 2),
                }
        points[name] = entry
    return {
        "session": session.name,
        "keyframes": len(frames),
        "image": [cal.width, cal.height],
        "pose_error_only": pose,
        "blind_fraction_by_third_top_mid_bottom": blind_fraction,
        "blind_zone_points": points,
    }


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("session", type=Path)
    ap.add_argument("--out", type=Path, default=Path("splat_twin_limits.json"))
    args = ap.parse_args()
    figures = measure(args.session)
    args.out.write_text(json.dumps(figures, indent=2))
    log.info("%s", json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
