"""Blind-zone points: the twin's office seen by a camera walking forward, pitched at the floor.
The triangulated points must lie on the twin's surfaces, and where a 'LiDAR map' covers the
scene (here everything above knee height) none may be added."""

import numpy as np
import pytest
from scipy.spatial import cKDTree

from drivers.sim.camera import CameraModel, render
from drivers.sim.scenes.catalog import make_scene
from drivers.sim.scenes.raycast import Raycaster
from splat.config import TrainConfig
from splat.keyframes import load_keyframes
from splat.train import Trainer
from splat.triangulate import TriangulateConfig, blind_zone_points, triangulate

CAMERA = CameraModel.from_hfov(90.0, width=480, height=270)
K = np.array([[CAMERA.fx, 0, CAMERA.cx], [0, CAMERA.fy, CAMERA.cy], [0, 0, 1.0]])


@pytest.fixture(scope="module")
def walk():
    """9 frames, 0.1 m apart, walking along -x at 1.5 m, pitched 20 deg down -> (images,
    T_world_camera [9, 4, 4], the surface points the camera sees [P, 3])."""
    scene = make_scene("office", 0)
    raycaster = Raycaster(scene)
    pitch = np.radians(20.0)
    forward = np.array([-np.cos(pitch), 0.0, -np.sin(pitch)])
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    R = np.column_stack([right, np.cross(forward, right), forward])
    images, poses, surface = [], [], []
    for k in range(9):
        T = np.eye(4)
        T[:3, :3], T[:3, 3] = R, [6.0 - 0.1 * k, 7.5, 1.5]
        images.append(render(raycaster, scene, CAMERA, T))
        poses.append(T)
        rays = CAMERA.pixel_rays() @ R.T
        hits = raycaster.cast(T[:3, 3], rays)
        surface.append(T[:3, 3] + rays[hits.hit] * hits.range_m[hits.hit, None])
    return images, np.array(poses), np.concatenate(surface)


def _distances(pts, surface):  # -> [M] metres from each point to the nearest surface sample
    return cKDTree(surface).query(pts[:, :3])[0]


def test_points_lie_on_the_surfaces_the_camera_saw(walk):
    images, T_world_camera, surface = walk
    pts = triangulate(images, K, T_world_camera)
    assert pts.shape[1] == 9 and len(pts) > 150, len(pts)
    dist = _distances(pts, surface)
    assert np.median(dist) < 0.04, np.percentile(dist, [50, 90, 99])  # measured 22 mm
    assert np.mean(dist > 0.1) < 0.12, np.percentile(dist, [50, 90, 99])  # measured 5.7 %
    assert (pts[:, 2] < 0.05).sum() > 50  # the floor, which a level Mid-360 does not see
    assert pts[:, 3:6].min() >= 0 and pts[:, 3:6].max() <= 255  # colours from the images
    i = pts[:, 6].astype(int)  # each point's keyframe and its pixel there
    uv = np.einsum(
        "ij,mj->mi",
        K,
        np.einsum(
            "mij,mj->mi",
            np.linalg.inv(T_world_camera)[i, :3],
            np.column_stack([pts[:, :3], np.ones(len(pts))]),
        ),
    )
    assert np.median(np.linalg.norm(uv[:, :2] / uv[:, 2:] - pts[:, 7:9], axis=1)) < 1.0


def test_one_pair_alone_is_fooled_by_repeated_texture(walk):
    images, T_world_camera, surface = walk
    one = _distances(
        triangulate(images, K, T_world_camera, TriangulateConfig(min_other_views=1)), surface
    )
    two = _distances(triangulate(images, K, T_world_camera), surface)
    assert np.mean(one > 0.1) > 2 * np.mean(two > 0.1), (np.mean(one > 0.1), np.mean(two > 0.1))


def test_the_lidar_map_stays_the_authority_where_it_saw(walk):
    images, T_world_camera, surface = walk
    lidar = surface[surface[:, 2] > 0.5]  # everything but the floor and what stands low on it
    pts = blind_zone_points(images, K, T_world_camera, lidar)
    assert pts.shape[1] == 6 and len(pts) > 50
    assert np.percentile(pts[:, 2], 95) < 0.6  # near the floor, where the map had nothing
    assert len(blind_zone_points(images, K, T_world_camera, surface)) == 0  # it saw everything


def test_no_images_or_no_texture_gives_no_points():
    assert triangulate([], K, np.zeros((0, 4, 4))).shape == (0, 9)
    grey = [np.full((270, 480, 3), 128, np.uint8)] * 3
    T = np.stack([np.eye(4)] * 3)
    T[:, 0, 3] = [0.0, 0.2, 0.4]
    assert triangulate(grey, K, T).shape == (0, 9)
    assert blind_zone_points(grey, K, T, np.zeros((0, 3))).shape == (0, 6)


def test_the_trainer_keeps_every_blind_zone_point_within_its_budget(processed):
    cfg = TrainConfig(image_scale=0.125, holdout_every=4, max_gaussians=1000, blind_zone=False)
    keyframes, map_xyz_rgb, blind = load_keyframes(processed, cfg)
    assert blind.shape == (0, 6) and len(map_xyz_rgb) > 1000  # blind_zone=False: none made
    extra = np.column_stack(
        [np.random.default_rng(0).normal(size=(100, 3)), np.full((100, 3), 200)]
    )
    trainer = Trainer(keyframes, map_xyz_rgb, cfg, blind_xyz_rgb=extra)
    assert trainer.init_points == {"lidar": 900, "blind_zone": 100}
    means = trainer.params["means"].detach().numpy()
    assert np.allclose(means[-100:], extra[:, :3], atol=1e-6)  # all of them, where they were
