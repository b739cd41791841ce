"""Tests of drivers.sim.camera: the camera models are exact inverses, and renders match the mesh."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from drivers.sim.camera import CameraModel, encode_jpeg, render
from drivers.sim.scenes.catalog import make_scene
from drivers.sim.scenes.raycast import Raycaster
from drivers.sim.scenes.scene import Scene

SMALL = dict(width=160, height=90, fx=80.0, fy=80.0, cx=79.5, cy=44.5)
CAMERAS = {
    "pinhole": CameraModel(),
    "fisheye": CameraModel(model="fisheye"),
    "fisheye-k": CameraModel(model="fisheye", k=(0.05, -0.01, 0.003, -0.0005)),
    "fisheye-wide": CameraModel.from_hfov(150.0, model="fisheye", k=(-0.02, 0.004, 0.0, 0.0)),
}


@pytest.fixture(scope="module")
def office() -> tuple[Scene, Raycaster]:
    scene = make_scene("office")
    return scene, Raycaster(scene)


def look_at(position: np.ndarray, target: np.ndarray) -> np.ndarray:  # [3], [3] -> [4, 4]
    """T_world_camera of a level camera (x right, y down, z forward) looking at target."""
    forward = (target - position) / np.linalg.norm(target - position)
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    T = np.eye(4)
    T[:3, :3] = np.column_stack([right, np.cross(forward, right), forward])
    T[:3, 3] = position
    return T


def pixel_grid(camera: CameraModel) -> np.ndarray:  # -> [H*W, 2] row-major (u, v)
    v, u = np.mgrid[0 : camera.height, 0 : camera.width]
    return np.column_stack([u.ravel(), v.ravel()]).astype(np.float64)


# --- the model ----------------------------------------------------------------------------------


def test_default_camera_has_a_90_degree_horizontal_field_of_view() -> None:
    camera = CameraModel()
    assert (camera.width, camera.height, camera.model) == (1280, 720, "pinhole")
    edge = camera.unproject(np.array([[-0.5, camera.cy], [camera.width - 0.5, camera.cy]]))
    np.testing.assert_allclose(np.degrees(np.arctan2(edge[:, 0], edge[:, 2])), [-45.0, 45.0])
    assert CameraModel.from_hfov(90.0).fx == pytest.approx(camera.fx)


@pytest.mark.parametrize("name", CAMERAS)
def test_pixel_rays_and_project_are_exact_inverses(name: str) -> None:
    camera = CAMERAS[name]
    rays = camera.pixel_rays()
    assert rays.shape == (camera.height * camera.width, 3) and rays.dtype == np.float64
    assert camera.pixel_rays() is rays and not rays.flags.writeable  # cached, read-only
    np.testing.assert_allclose(np.linalg.norm(rays, axis=1), 1.0, atol=1e-12)
    uv, valid = camera.project(rays * np.linspace(0.5, 40.0, len(rays))[:, None])
    np.testing.assert_allclose(uv, pixel_grid(camera), atol=1e-6, rtol=0)
    in_front = rays[:, 2] > 0
    assert np.array_equal(valid, in_front) and in_front.mean() > 0.9


@pytest.mark.parametrize("name", CAMERAS)
def test_project_then_unproject_returns_the_direction(name: str) -> None:
    camera = CAMERAS[name]
    rng = np.random.default_rng(2)
    points = rng.uniform((-5.0, -3.0, 0.3), (5.0, 3.0, 8.0), size=(5000, 3))
    uv, valid = camera.project(points)
    assert valid.any()
    directions = points[valid] / np.linalg.norm(points[valid], axis=1, keepdims=True)
    np.testing.assert_allclose(camera.unproject(uv[valid]), directions, atol=1e-10)


def test_known_points_project_where_expected() -> None:
    pinhole = CameraModel()
    uv, valid = pinhole.project(np.array([[1.0, 0.5, 2.0], [0.0, 0.0, 5.0], [0.0, 0.0, -1.0]]))
    np.testing.assert_allclose(
        uv[:2], [[640.0 * 0.5 + 639.5, 640.0 * 0.25 + 359.5], [639.5, 359.5]]
    )
    assert valid.tolist() == [True, True, False]
    fisheye = CameraModel(model="fisheye")
    theta = np.radians(40.0)  # equidistant: the radius in pixels is f * theta
    uv, valid = fisheye.project(np.array([[np.sin(theta), 0.0, np.cos(theta)]]))
    np.testing.assert_allclose(uv, [[639.5 + 640.0 * theta, 359.5]])
    assert valid.all()
    _, valid = pinhole.project(np.array([[10.0, 0.0, 1.0], [0.0, -10.0, 1.0]]))  # outside
    assert not valid.any()


def test_camera_info_matches_the_model() -> None:
    info = CameraModel().camera_info()
    assert info["distortion_model"] == "plumb_bob" and info["d"] == [0.0] * 5
    assert (info["width"], info["height"]) == (1280, 720)
    assert info["k"] == [640.0, 0.0, 639.5, 0.0, 640.0, 359.5, 0.0, 0.0, 1.0]
    assert info["r"] == [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
    assert info["p"] == [640.0, 0.0, 639.5, 0.0, 0.0, 640.0, 359.5, 0.0, 0.0, 0.0, 1.0, 0.0]
    info = CAMERAS["fisheye-k"].camera_info()
    assert info["distortion_model"] == "equidistant"
    assert info["d"] == [0.05, -0.01, 0.003, -0.0005]


def test_bad_models_are_rejected() -> None:
    with pytest.raises(ValueError):
        CameraModel(model="orthographic")
    with pytest.raises(ValueError):
        CameraModel(model="fisheye", k=(0.1, 0.2))


# --- rendering ----------------------------------------------------------------------------------


def test_render_the_office(office) -> None:
    scene, raycaster = office
    T = look_at(scene.walk_path[0] + (0.0, 0.0, 1.6), scene.walk_path[1] + (0.0, 0.0, 1.4))
    image = render(raycaster, scene, CameraModel(), T)
    assert image.shape == (720, 1280, 3) and image.dtype == np.uint8
    assert image.std() > 20.0
    assert len(np.unique(image.reshape(-1, 3)[::97], axis=0)) > 50  # textured, not flat
    np.testing.assert_array_equal(image, render(raycaster, scene, CameraModel(), T))


def test_render_sky_outdoors() -> None:
    scene = make_scene("courtyard")
    T = look_at(scene.walk_path[0] + (0.0, 0.0, 1.6), scene.walk_path[0] + (0.0, 0.1, 50.0))
    image = render(Raycaster(scene), scene, CameraModel(**SMALL), T)
    assert image.shape == (90, 160, 3)
    blue = image[..., 2].astype(int) - image[..., 0]
    assert np.mean(blue > 40) > 0.9  # looking straight up: mostly sky


@pytest.mark.parametrize("name", ["pinhole", "fisheye-k"])
def test_mesh_vertices_reproject_where_the_true_pose_says(office, name: str) -> None:
    scene, raycaster = office
    camera = CAMERAS[name]
    T = look_at(scene.walk_path[0] + (0.0, 0.0, 1.6), scene.walk_path[1] + (0.0, 0.0, 1.2))
    R, t = T[:3, :3], T[:3, 3]
    uv, valid = camera.project((scene.vertices - t) @ R)  # world -> camera frame
    to_vertex = scene.vertices[valid] - t
    distance = np.linalg.norm(to_vertex, axis=1)
    hits = raycaster.cast(t, to_vertex / distance[:, None])
    visible = np.abs(hits.range_m - distance) < 1e-3  # nothing in front of the vertex
    assert visible.sum() >= 20
    rays_world = camera.unproject(uv[valid][visible]) @ R.T
    np.testing.assert_allclose(rays_world, to_vertex[visible] / distance[visible, None], atol=1e-9)
    again = raycaster.cast(t, rays_world)
    np.testing.assert_allclose(again.range_m, distance[visible], atol=1e-3)


@pytest.mark.parametrize("name", ["pinhole", "fisheye-k"])
def test_rendered_surface_points_reproject_onto_their_pixels(office, name: str) -> None:
    scene, raycaster = office
    camera = CAMERAS[name]
    T = look_at(scene.walk_path[3] + (0.0, 0.0, 1.6), scene.walk_path[4] + (0.0, 0.0, 1.0))
    R, t = T[:3, :3], T[:3, 3]
    pixels = np.arange(0, camera.width * camera.height, 37)
    rays = camera.pixel_rays()[pixels]
    np.testing.assert_array_equal(rays, camera.unproject(pixel_grid(camera)[pixels]))
    hits = raycaster.cast(t, rays @ R.T)
    assert hits.hit.all()
    points_world = t + (rays @ R.T) * hits.range_m[:, None]
    uv, valid = camera.project((points_world - t) @ R)
    assert valid.all()
    np.testing.assert_allclose(uv, pixel_grid(camera)[pixels], atol=1e-6, rtol=0)


def test_encode_jpeg_round_trip() -> None:
    rng = np.random.default_rng(3)
    image = np.repeat(np.repeat(rng.integers(0, 256, (9, 16, 3), dtype=np.uint8), 10, 0), 10, 1)
    data = encode_jpeg(image, quality=95)
    assert data[:2] == b"\xff\xd8"
    decoded = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    assert decoded.shape == image.shape
    assert np.abs(decoded.astype(int) - image).mean() < 8.0
    assert len(encode_jpeg(image, quality=30)) < len(data)
