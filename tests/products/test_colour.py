"""Colour from the camera: right colours, occlusion respected, unseen points flagged."""

import cv2
import numpy as np

from drivers.frames import CameraFrame
from drivers.sessions.manifest import CameraCalibration
from products.colour import ColourSettings, colourise
from products.map import MapCloud

W, H, F = 160, 120, 100.0
CAL = CameraCalibration(
    width=W, height=H, model="pinhole", fx=F, fy=F, cx=(W - 1) / 2, cy=(H - 1) / 2,
    T_lidar_camera=np.eye(4).tolist(),  # the camera frame is the lidar's: z forward here
)  # fmt: skip


def grid(z, half, step):
    g = np.arange(-half, half + 1e-9, step)
    x, y = np.meshgrid(g, g)
    return np.column_stack([x.ravel(), y.ravel(), np.full(x.size, z)])


def render() -> bytes:
    """A red square (the near wall, 1 m wide at 2 m) in front of a green background."""
    u, v = np.meshgrid(np.arange(W), np.arange(H))
    dx, dy = (u - CAL.cx) / F, (v - CAL.cy) / F
    img = np.zeros((H, W, 3), np.uint8)
    img[...] = (40, 200, 40)  # green (BGR)
    img[(abs(dx) < 0.25) & (abs(dy) < 0.25)] = (30, 30, 220)  # red (BGR)
    return cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 95])[1].tobytes()


def test_near_wall_red_far_wall_green_and_hidden_points_unseen():
    near = grid(2.0, 0.45, 0.05)  # the red wall, away from its edges
    far = grid(4.0, 3.0, 0.05)
    behind = grid(-3.0, 1.0, 0.25)  # behind the camera
    xyz = np.vstack([near, far, behind])
    cloud = MapCloud(xyz, np.full(len(xyz), 50.0, np.float32), np.zeros(len(xyz)))
    frames = [CameraFrame(500_000_000, render(), W, H)]
    T = np.tile(np.eye(4), (2, 1, 1))
    out = colourise(cloud, frames, CAL, np.array([0.0, 1.0]), T, ColourSettings(cell_px=4))
    n1, n2 = len(near), len(near) + len(far)
    assert out.coloured[:n1].all()
    red = out.rgb[:n1]
    assert (red[:, 0] > 180).all() and (red[:, 1] < 80).all()
    hidden = (abs(far[:, 0]) < 0.9) & (abs(far[:, 1]) < 0.9)  # behind the red wall
    assert not out.coloured[n1:n2][hidden].any()  # never painted with the near side's red
    clear = (abs(far[:, 0]) > 1.1) | (abs(far[:, 1]) > 1.1)
    in_view = (abs(far[:, 0]) < 4 * (W / 2 - 2) / F) & (abs(far[:, 1]) < 4 * (H / 2 - 2) / F)
    green = out.rgb[n1:n2][clear & in_view]
    assert out.coloured[n1:n2][clear & in_view].all()
    assert (green[:, 1] > 160).all() and (green[:, 0] < 90).all()
    assert not out.coloured[n2:].any()
    np.testing.assert_array_equal(out.rgb[n2:], 50)  # unseen: grey from intensity, flagged


def test_images_outside_the_trajectory_and_bad_ones_are_skipped():
    xyz = grid(2.0, 0.45, 0.05)
    cloud = MapCloud(xyz, np.zeros(len(xyz), np.float32), np.zeros(len(xyz)))
    T = np.tile(np.eye(4), (2, 1, 1))
    frames = [
        CameraFrame(5_000_000_000, render(), W, H),  # after the trajectory ends
        CameraFrame(500_000_000, b"not a jpeg", W, H),
    ]
    out = colourise(cloud, frames, CAL, np.array([0.0, 1.0]), T)
    assert not out.coloured.any()


def test_projection_matches_opencv():
    from products.colour import _pixel, project

    rng = np.random.default_rng(0)
    p = rng.normal(size=(1000, 3))
    p[:, 2] = np.abs(p[:, 2]) + 0.5
    K = np.array([[300, 0, 320], [0, 310, 240], [0, 0, 1.0]])
    for model, d in (
        ("pinhole", [0.1, -0.05, 0.001, -0.002, 0.01]),
        ("fisheye", [0.05, -0.01, 0.002, -0.001]),
    ):
        cal = CameraCalibration(
            width=640, height=480, model=model, fx=300, fy=310, cx=320, cy=240,
            distortion=d, T_lidar_camera=np.eye(4).tolist(),
        )  # fmt: skip
        if model == "fisheye":
            ref, _ = cv2.fisheye.projectPoints(
                p.reshape(-1, 1, 3), np.zeros(3), np.zeros(3), K, np.array(d)
            )
        else:
            ref, _ = cv2.projectPoints(p, np.zeros(3), np.zeros(3), K, np.array(d))
        np.testing.assert_allclose(project(p, cal), ref.reshape(-1, 2), atol=1e-6)
        # the colouring kernel's own copy of the lens models, one point at a time
        lens = np.array([300.0, 310.0, 320.0, 240.0, 640.0, 480.0, 400.0])
        dist = np.zeros(5)
        dist[: len(d)] = d
        uv = [_pixel(x, y, z, lens, dist, model == "fisheye") for x, y, z in p[:200]]
        np.testing.assert_allclose(uv, ref.reshape(-1, 2)[:200], atol=1e-6)


def test_voxel_normals_are_the_planes_and_zero_off_them():
    from products.colour import voxel_normals

    rng = np.random.default_rng(2)
    floor = np.column_stack([rng.uniform(0, 2, 5000), rng.uniform(0, 2, 5000), np.zeros(5000)])
    wall = np.column_stack([np.full(5000, 3.0), rng.uniform(0, 2, 5000), rng.uniform(0, 2, 5000)])
    blob = rng.normal(size=(500, 3)) * 0.05 + 10.0  # no plane
    n = voxel_normals(np.vstack([floor, wall, blob]))
    assert (np.abs(n[:5000, 2]) > 0.99).all() and (np.abs(n[5000:10000, 0]) > 0.99).all()
    assert (n[10000:] == 0).all()


def test_camera_poses_pass_over_a_repeated_or_late_pose():
    """A trajectory written live may repeat a sweep's time or hold a late one; the camera's
    poses come from the rest, and a one-pose trajectory colours nothing instead of failing."""
    from scipy.spatial.transform import Rotation

    from products.colour import camera_poses

    t_s = np.array([0.0, 1.0, 1.0, 0.5, 2.0])  # 1.0 twice, then 0.5 late
    T = np.tile(np.eye(4), (5, 1, 1))
    T[:, 0, 3] = [0.0, 1.0, 9.0, 9.0, 2.0]  # the repeated and the late pose are wrong
    T[:, :3, :3] = Rotation.from_euler(
        "z", [[0.0], [10.0], [10.0], [5.0], [20.0]], degrees=True
    ).as_matrix()
    keep, T_wc = camera_poses(np.array([-1.0, 0.5, 1.5]), t_s, T, np.eye(4))
    assert keep.tolist() == [False, True, True]
    np.testing.assert_allclose(T_wc[:, 0, 3], [0.5, 1.5])
    yaw = Rotation.from_matrix(T_wc[:, :3, :3]).as_euler("zyx", degrees=True)[:, 0]
    np.testing.assert_allclose(yaw, [5.0, 15.0], atol=1e-9)
    keep, T_wc = camera_poses(np.array([0.0]), np.array([0.0]), np.eye(4)[None], np.eye(4))
    assert keep.tolist() == [False] and T_wc.shape == (0, 4, 4)


def test_a_map_in_tiles_is_coloured_as_the_same_map_in_any_order():
    """A map written tile after tile lets each view read only the tiles within its range; the
    same points in random order (no tiles to skip) take exactly the same colours."""
    from products.colour import RUN_CELL_M, _runs

    R = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0.0]])  # the camera looks along world +x
    walls = [grid(2.0, 0.45, 0.05), grid(4.0, 1.0, 0.05), grid(18.0, 15.0, 0.25)]
    xyz = np.vstack(walls) @ R.T  # the last one 18-21 m away: in range at its middle only
    tile = np.floor(xyz[:, :2] / RUN_CELL_M).astype(int)
    xyz = xyz[np.lexsort((tile[:, 1], tile[:, 0]))]  # tile after tile
    starts, ends, lo, hi = _runs(xyz.astype(np.float32), RUN_CELL_M)
    assert len(starts) == len(np.unique(tile, axis=0)) > 3 and ends[-1] == len(xyz)
    for a, b, low, high in zip(starts, ends, lo, hi, strict=True):
        assert (xyz[a:b] >= low - 1e-5).all() and (xyz[a:b] <= high + 1e-5).all()

    frames = [CameraFrame(500_000_000, render(), W, H)]
    T = np.tile(np.eye(4), (2, 1, 1))
    T[:, :3, :3] = R

    def colours(points):
        cloud = MapCloud(points, np.full(len(points), 50.0, np.float32), np.zeros(len(points)))
        return colourise(cloud, frames, CAL, np.array([0.0, 1.0]), T, ColourSettings(cell_px=4))

    tiled = colours(xyz)
    order = np.random.default_rng(0).permutation(len(xyz))
    shuffled = colours(xyz[order])
    np.testing.assert_array_equal(tiled.rgb[order], shuffled.rgb)
    np.testing.assert_array_equal(tiled.coloured[order], shuffled.coloured)
    wide = np.isclose(xyz[:, 0], 18.0)
    assert tiled.coloured[wide].sum() > 100 and not tiled.coloured[wide].all()
