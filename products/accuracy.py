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


def _map_and_truth(session: Path):
    """A processed twin session's map, the motion taking it into the truth's frame, and the
    true trajectory -> (MapCloud, T_truth_map [4, 4], t_gt [M], T_gt [M, 4, 4])."""
    from drivers.sessions.trajectory import read_tum
    from products.export import read_ply

    t_est, T_est = read_tum(session / "products" / "trajectory.tum")
    t_gt, T_gt = read_tum(session / "ground_truth.tum")
    T = align_trajectory(t_est, T_est, t_gt, T_gt)
    return read_ply(session / "products" / "map.ply"), T, t_gt, T_gt


def session_map_accuracy(session: Path) -> dict:
    """Median and 95th percentile cloud-to-mesh distance of a processed twin session's map."""
    cloud, T, _, _ = _map_and_truth(session)
    pts = cloud.xyz_m @ T[:3, :3].T + T[:3, 3]
    d = cloud_to_mesh_m(pts, session / "scene.ply")
    return {
        "points": len(d),
        "median_m": float(np.median(d)),
        "p95_m": float(np.percentile(d, 95)),
        "within_5cm": float((d <= 0.05).mean()),
    }


def session_colour_accuracy(session: Path) -> dict:
    """How far the map's colours are from what the twin's surfaces look like: for every point
    the camera coloured, the closest point of the true mesh, its textured albedo, shaded as the
    twin's camera shades it (its `shading` towards the default sun), in 0..255."""
    import open3d as o3d

    from drivers.sessions.manifest import read_manifest
    from drivers.sim.camera import DEFAULT_AMBIENT, DEFAULT_LIGHT_DIR_WORLD, shading
    from drivers.sim.scenes.catalog import make_scene

    sim = read_manifest(session).config["sim"]
    scene = make_scene(sim["scene"], sim["seed"])
    cloud, T, t_gt, T_gt = _map_and_truth(session)
    if cloud.coloured is None or not cloud.coloured.any():
        return {"coloured_fraction": 0.0}
    sel = np.flatnonzero(cloud.coloured)
    pts = cloud.xyz_m[sel] @ T[:3, :3].T + T[:3, 3]
    rc = o3d.t.geometry.RaycastingScene()
    rc.add_triangles(
        o3d.core.Tensor(scene.vertices.astype(np.float32)),
        o3d.core.Tensor(scene.triangles.astype(np.uint32)),
    )
    ans = rc.compute_closest_points(o3d.core.Tensor(pts.astype(np.float32)))
    face = ans["primitive_ids"].numpy().astype(np.int64)
    on_mesh = ans["points"].numpy().astype(np.float64)
    normal = scene.face_normals[face]
    eye = np.column_stack([np.interp(cloud.t_s[sel], t_gt, T_gt[:, i, 3]) for i in range(3)])
    normal *= np.where(np.einsum("ij,ij->i", normal, eye - on_mesh) < 0, -1.0, 1.0)[:, None]
    light = DEFAULT_LIGHT_DIR_WORLD / np.linalg.norm(DEFAULT_LIGHT_DIR_WORLD)
    shade = shading(normal @ light, DEFAULT_AMBIENT)
    truth = np.clip(scene.albedo_at(face, on_mesh) * shade[:, None] * 255.0, 0, 255)
    err = np.abs(cloud.rgb[sel].astype(np.float64) - truth).mean(axis=1)
    return {
        "coloured_fraction": float(cloud.coloured.mean()),
        "median_error": float(np.median(err)),
        "p90_error": float(np.percentile(err, 90)),
    }
