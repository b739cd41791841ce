"""Tests of drivers.sim.scenes: the procedural scenes, their textures, the ray caster, the PLY."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from plyfile import PlyData

from drivers.sim.scenes.catalog import SCENE_NAMES, describe_scenes, make_scene
from drivers.sim.scenes.primitives import box_mesh, cylinder_mesh
from drivers.sim.scenes.raycast import Raycaster
from drivers.sim.scenes.scene import (
    CHECKER,
    NOISE,
    PATTERN_MIN,
    PLAIN,
    STRIPES,
    Scene,
    write_scene_ply,
)

EIGHT_DIRECTIONS = np.array(
    [[np.cos(a), np.sin(a), 0.0] for a in np.arange(8) * np.pi / 4]
)  # [8, 3] horizontal


@pytest.fixture(scope="module")
def scenes() -> dict[str, tuple[Scene, Raycaster]]:
    built = {name: make_scene(name) for name in SCENE_NAMES}
    return {name: (scene, Raycaster(scene)) for name, scene in built.items()}


def densify(path: np.ndarray, step_m: float) -> np.ndarray:  # [K, 3] -> [M, 3]
    """Points every step_m along a polyline, its vertices included."""
    parts = [path[:1]]
    for a, b in zip(path[:-1], path[1:], strict=True):
        n = max(1, int(np.ceil(np.linalg.norm(b - a) / step_m)))
        parts.append(a + np.outer(np.arange(1, n + 1) / n, b - a))
    return np.vstack(parts)


def edge_balance(triangles: np.ndarray) -> bool:  # [F, 3]
    """True if every directed edge is matched by its reverse: closed and consistently wound."""
    edges = np.vstack([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    forward = {tuple(e) for e in edges.tolist()}
    return len(forward) == len(edges) and all((b, a) in forward for a, b in forward)


# --- building blocks ----------------------------------------------------------------------------


@pytest.mark.parametrize("yaw", [0.0, 0.7])
def test_box_mesh_is_closed_and_wound_outward(yaw: float) -> None:
    lo, hi = (
        np.array([[0.0, 0.0, 0.0], [5.0, 1.0, 2.0]]),
        np.array([[1.0, 2.0, 3.0], [6.0, 4.0, 2.5]]),
    )
    vertices, triangles = box_mesh(lo, hi, yaw, origin=(1.0, -2.0, 0.5))
    assert vertices.shape == (16, 3) and triangles.shape == (24, 3)
    assert edge_balance(triangles)
    for b in range(2):
        v, t = vertices[8 * b : 8 * b + 8], triangles[12 * b : 12 * b + 12] - 8 * b
        p = v[t]  # [12, 3, 3]
        normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
        assert np.all(np.einsum("ij,ij->i", normal, p.mean(axis=1) - v.mean(axis=0)) > 0)


def test_box_mesh_rejects_empty_boxes() -> None:
    with pytest.raises(ValueError):
        box_mesh(np.zeros(3), np.array([1.0, 0.0, 1.0]))


def test_cylinder_mesh_is_closed_and_wound_outward() -> None:
    vertices, triangles = cylinder_mesh((2.0, 3.0), 0.5, 2.5, 0.4, sides=16)
    assert triangles.shape == (64, 3)
    assert edge_balance(triangles)
    p = vertices[triangles]
    normal = np.cross(p[:, 1] - p[:, 0], p[:, 2] - p[:, 0])
    assert np.all(np.einsum("ij,ij->i", normal, p.mean(axis=1) - (2.0, 3.0, 1.5)) > 0)


# --- the scenes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_scene_is_well_formed(name: str) -> None:
    t0 = time.perf_counter()
    scene = make_scene(name)
    assert time.perf_counter() - t0 < 10.0  # procedural, quick (the campus ~0.5 s idle)
    f = len(scene.triangles)
    assert scene.name == name
    assert 0 < f < 200_000
    assert scene.vertices.dtype == np.float64 and scene.triangles.dtype == np.int32
    assert scene.triangles.min() >= 0 and scene.triangles.max() < len(scene.vertices)
    assert np.all(np.linalg.norm(scene.face_normals, axis=1) > 0.99)  # no degenerate triangles
    assert scene.albedo.dtype == np.float32 and scene.albedo.shape == (f, 3)
    assert scene.albedo.min() >= 0.09 and scene.albedo.max() <= 0.91
    assert set(np.unique(scene.texture)) == {PLAIN, CHECKER, STRIPES, NOISE}
    assert np.all(scene.texture_scale_m > 0)


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_same_seed_same_scene(name: str) -> None:
    a, b = make_scene(name, seed=3), make_scene(name, seed=3)
    for field in ("vertices", "triangles", "albedo", "texture", "texture_scale_m", "walk_path"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert not np.array_equal(a.albedo, make_scene(name, seed=4).albedo)


def test_unknown_scene_lists_the_names() -> None:
    with pytest.raises(ValueError, match="office.*corridor.*courtyard.*stairwell"):
        make_scene("moon")


def test_every_scene_is_described() -> None:
    descriptions = describe_scenes()
    assert tuple(descriptions) == SCENE_NAMES
    assert all(isinstance(d, str) and d and "\n" not in d for d in descriptions.values())


def test_scene_sizes_and_shapes(scenes) -> None:
    office = scenes["office"][0]
    extent = np.ptp(office.vertices, axis=0)
    assert 19.0 < extent[0] < 22.0 and 14.0 < extent[1] < 17.0
    corridor = scenes["corridor"][0]
    assert 59.0 < np.ptp(corridor.vertices[:, 0]) < 62.0
    assert np.ptp(corridor.walk_path[:, 0]) > 50.0  # down the corridor and back
    courtyard = scenes["courtyard"][0]
    assert np.all(np.ptp(courtyard.vertices[:, :2], axis=0) >= 100.0)
    length = np.linalg.norm(np.diff(courtyard.walk_path, axis=0), axis=1).sum()
    assert 150.0 <= length <= 250.0
    z = scenes["stairwell"][0].walk_path[:, 2]
    assert z[0] == 0.0 and z.max() >= 6.0  # at least three floors, 3 m apart
    top = int(np.argmax(z))
    assert np.all(np.diff(z[: top + 1]) >= -1e-9) and np.all(np.diff(z[top:]) <= 1e-9)


# --- the walk paths -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_walk_path_is_a_closed_loop_of_short_steps(scenes, name: str) -> None:
    path = scenes[name][0].walk_path
    assert path.ndim == 2 and path.shape[1] == 3 and len(path) >= 4
    np.testing.assert_array_equal(path[0], path[-1])
    assert np.linalg.norm(np.diff(path, axis=0), axis=1).max() < 5.0


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_walk_path_stands_on_the_floor(scenes, name: str) -> None:
    scene, raycaster = scenes[name]
    down = np.tile([0.0, 0.0, -1.0], (len(scene.walk_path), 1))
    hits = raycaster.cast(scene.walk_path + (0.0, 0.0, 1.0), down)
    np.testing.assert_allclose(hits.range_m, 1.0, atol=0.02)
    assert np.all(hits.normal_world[:, 2] > 0.99)


@pytest.mark.parametrize("name", SCENE_NAMES)
def test_walk_path_keeps_clear_of_walls_and_furniture(scenes, name: str) -> None:
    scene, raycaster = scenes[name]
    points = densify(scene.walk_path, 0.25) + (0.0, 0.0, 1.5)
    hits = raycaster.cast(np.repeat(points, 8, axis=0), np.tile(EIGHT_DIRECTIONS, (len(points), 1)))
    assert hits.range_m.min() > 0.5


def test_courtyard_is_open_to_the_sky(scenes) -> None:
    scene, raycaster = scenes["courtyard"]
    up = np.tile([0.0, 0.0, 1.0], (len(scene.walk_path), 1))
    hits = raycaster.cast(scene.walk_path + (0.0, 0.0, 1.5), up)
    assert np.all(np.isinf(hits.range_m)) and np.all(hits.face_id == -1)
    assert np.all(hits.normal_world == 0.0) and not hits.hit.any()


# --- the ray caster -----------------------------------------------------------------------------


def test_rays_inside_the_office_hit_the_plane_of_their_triangle(scenes) -> None:
    scene, raycaster = scenes["office"]
    rng = np.random.default_rng(0)
    directions = rng.normal(size=(2000, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    origin = scene.walk_path[0] + (0.0, 0.0, 1.5)
    hits = raycaster.cast(origin, directions)
    assert hits.hit.all()  # a closed building: every ray hits something
    assert np.all((hits.range_m > 0.5) & (hits.range_m < 25.0))
    points = origin + directions * hits.range_m[:, None]
    corners = scene.vertices[scene.triangles[hits.face_id]]  # [N, 3, 3]
    plane_normal = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
    plane_normal /= np.linalg.norm(plane_normal, axis=1, keepdims=True)
    distance = np.einsum("ij,ij->i", points - corners[:, 0], plane_normal)
    np.testing.assert_allclose(distance, 0.0, atol=1e-4)
    np.testing.assert_allclose(np.linalg.norm(hits.normal_world, axis=1), 1.0)
    assert np.all(np.einsum("ij,ij->i", hits.normal_world, directions) <= 0.0)
    assert hits.range_m.dtype == np.float64 and hits.face_id.dtype == np.int64


def test_cast_with_no_rays(scenes) -> None:
    hits = scenes["office"][1].cast(np.zeros((0, 3)), np.zeros((0, 3)))
    assert hits.range_m.shape == (0,) and hits.face_id.shape == (0,)
    assert hits.normal_world.shape == (0, 3)


# --- textures -----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [PLAIN, CHECKER, STRIPES, NOISE])
def test_textured_albedo_modulates_the_base_within_bounds(scenes, kind: int) -> None:
    scene = scenes["office"][0]
    faces = np.flatnonzero(scene.texture == kind)
    rng = np.random.default_rng(1)
    face_id = rng.choice(faces, 5000)
    w = rng.dirichlet(np.ones(3), 5000)  # random points on the faces
    points = np.einsum("nk,nkd->nd", w, scene.vertices[scene.triangles[face_id]])
    albedo = scene.albedo_at(face_id, points)
    base = scene.albedo[face_id]
    assert albedo.dtype == np.float32 and albedo.shape == (5000, 3)
    ratio = albedo / base
    assert np.all(ratio >= PATTERN_MIN - 1e-6) and np.all(ratio <= 1.0 + 1e-6)
    np.testing.assert_allclose(ratio, ratio[:, :1] * np.ones(3), rtol=1e-5)  # same for R, G, B
    if kind == PLAIN:
        np.testing.assert_array_equal(albedo, base)
    else:
        assert ratio[:, 0].std() > 0.05  # a visible pattern
    np.testing.assert_array_equal(albedo, scene.albedo_at(face_id, points))  # deterministic


def test_checker_alternates_with_the_period(scenes) -> None:
    scene = scenes["office"][0]
    floor = int(np.flatnonzero((scene.texture == CHECKER) & (scene.face_normals[:, 2] > 0.99))[0])
    period = float(scene.texture_scale_m[floor])
    x = (np.arange(8) + 0.5) * period
    points = np.column_stack([x, np.full(8, 0.5 * period), np.zeros(8)])
    ratio = scene.albedo_at(np.full(8, floor), points)[:, 0] / scene.albedo[floor, 0]
    np.testing.assert_allclose(ratio[0::2], ratio[0], rtol=1e-6)
    np.testing.assert_allclose(ratio[1::2], ratio[1], rtol=1e-6)
    assert abs(ratio[0] - ratio[1]) == pytest.approx(1.0 - PATTERN_MIN, rel=1e-5)


# --- PLY ----------------------------------------------------------------------------------------


def test_write_scene_ply_round_trip(scenes, tmp_path: Path) -> None:
    scene = scenes["stairwell"][0]
    path = tmp_path / "scene.ply"
    write_scene_ply(scene, path)
    ply = PlyData.read(str(path))
    assert not ply.text
    vertex, face = ply["vertex"], ply["face"]
    assert vertex.count == len(scene.vertices) and face.count == len(scene.triangles)
    xyz = np.column_stack([vertex[c] for c in "xyz"])
    assert vertex["x"].dtype == np.float32
    np.testing.assert_allclose(xyz, scene.vertices, atol=1e-5)
    np.testing.assert_array_equal(np.vstack(face["vertex_indices"]), scene.triangles)
    rgb = np.column_stack([face[c] for c in ("red", "green", "blue")])
    assert rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, np.round(scene.albedo * 255).astype(np.uint8))
    np.testing.assert_array_equal(face["texture"], scene.texture)
