"""How far the map lies from the truth: cloud-to-mesh distance against the twin's scene.ply.

The SLAM world frame is tied to the scene's by the rigid motion that best maps the estimated
lidar poses onto the true ones at the same times.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def align_trajectory(
    t_est: np.ndarray, T_est: np.ndarray, t_gt: np.ndarray, T_gt: np.ndarray
) -> np.ndarray:  # [N], [N, 4, 4], [M], [M, 4, 4] -> T_truth_est [4, 4]
    """The rigid motion taking the estimated poses onto the true ones, matched by time: the
    rotation is the chordal mean of R_gt R_est^T over all poses (positions alone leave it
    loose when the walk is short and straight), the translation then fits the positions."""
    k = np.clip(np.searchsorted(t_gt, t_est), 1, len(t_gt) - 1)
    k -= (t_est - t_gt[k - 1]) < (t_gt[k] - t_est)  # the nearest true pose (>= 100 Hz)
    R_sum = np.einsum("nij,nkj->ik", T_gt[k, :3, :3], T_est[:, :3, :3])  # sum R_gt R_est^T
    U, _, Vt = np.linalg.svd(R_sum)
    R = U @ np.diag([1.0, 1.0, np.sign(np.linalg.det(U @ Vt))]) @ Vt
    gt = np.column_stack([np.interp(t_est, t_gt, T_gt[:, i, 3]) for i in range(3)])  # [N, 3]
    T = np.eye(4)
    T[:3, :3], T[:3, 3] = R, (gt - T_est[:, :3, 3] @ R.T).mean(axis=0)
    return T


def cloud_to_mesh_m(points_world: np.ndarray, mesh_path: Path) -> np.ndarray:  # [N, 3] -> [N]
    """Unsigned distance of each point to the mesh (open3d's ray-casting scene, Embree)."""
    import open3d as o3d

    mesh = o3d.t.io.read_triangle_mesh(str(mesh_path))
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(mesh)
    q = o3d.core.Tensor(points_world.astype(np.float32))
    return scene.compute_distance(q).numpy().astype(np.float64)


def session_map_accuracy(session: Path) -> dict:
    """Median and 95th percentile cloud-to-mesh distance of a processed twin session's map."""
    from device.products.export import read_ply
    from slam.trajectory_io import read_tum

    t_est, T_est = read_tum(session / "products" / "trajectory.tum")
    t_gt, T_gt = read_tum(session / "ground_truth.tum")
    T = align_trajectory(t_est, T_est, t_gt, T_gt)
    cloud = read_ply(session / "products" / "map.ply")
    pts = cloud.xyz_m @ T[:3, :3].T + T[:3, 3]
    d = cloud_to_mesh_m(pts, session / "scene.ply")
    return {
        "points": len(d),
        "median_m": float(np.median(d)),
        "p95_m": float(np.percentile(d, 95)),
        "within_5cm": float((d <= 0.05).mean()),
    }
