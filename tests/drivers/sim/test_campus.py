"""Tests of the campus scene: its size, the 2 km route through it (clear of the geometry, coming
back on itself, through doors and up stairs), the stacked look-alike rooms, the markers, the
doors, the glass, the featureless underpass and the trees' see-through crowns."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial import cKDTree

from drivers.sim.motion import make_trajectory
from drivers.sim.scenes import campus_route as plan
from drivers.sim.scenes.campus_props import tree, tree_materials
from drivers.sim.scenes.catalog import make_scene
from drivers.sim.scenes.primitives import SceneBuilder
from drivers.sim.scenes.raycast import Raycaster
from drivers.sim.scenes.scene import GLASS, PLAIN, Scene
from drivers.sim.walk_path import LoopPath

SENSOR_M = 1.5
EIGHT = np.array([[np.cos(a), np.sin(a), 0.0] for a in np.arange(8) * np.pi / 4])  # [8, 3]


@pytest.fixture(scope="module")
def campus() -> tuple[Scene, Raycaster, LoopPath]:
    scene = make_scene("campus", seed=0)
    return scene, Raycaster(scene), LoopPath.build(scene.walk_path, 1.25)


def unit(v: np.ndarray) -> np.ndarray:  # [N, 3] -> [N, 3]
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_the_grounds_are_at_least_450_m_square(campus) -> None:
    scene = campus[0]
    extent = np.ptp(scene.vertices[:, :2], axis=0)
    assert np.all(extent >= 450.0) and extent.prod() >= 200_000.0
    assert len(scene.triangles) < 3_000_000


def test_the_route_is_about_2_km_and_a_30_minute_walk_does_it_once(campus) -> None:
    scene, _, loop = campus
    path = scene.walk_path
    np.testing.assert_array_equal(path[0], path[-1])
    assert 1900.0 <= np.linalg.norm(np.diff(path, axis=0), axis=1).sum() <= 2300.0
    assert 1800.0 * 1.1 <= loop.loop_effort_m <= 1800.0 * 1.3
    walk = make_trajectory(path, "walk", 1800.0, seed=5)
    assert walk.n_loops == 1  # one whole loop, back at the start
    end = walk.pose(np.array([1799.0]))[0, :3, 3]
    np.testing.assert_allclose(end, path[0] + (0.0, 0.0, SENSOR_M), atol=0.1)


def test_the_route_keeps_clear_of_the_geometry(campus) -> None:
    """The corner-rounded walk at sensor height: nothing within 0.6 m sideways, the floor 1.5 m
    below (less exactly on the stairs, which the rounding smooths), headroom above."""
    _, raycaster, loop = campus
    p = loop.xyz_m[::5] + (0.0, 0.0, SENSOR_M)  # every 0.25 m
    side = raycaster.cast(np.repeat(p, 8, axis=0), np.tile(EIGHT, (len(p), 1)))
    assert side.range_m.min() > 0.6
    down = raycaster.cast(p, np.tile([0.0, 0.0, -1.0], (len(p), 1)))
    storey = np.round(loop.xyz_m[::5, 2] / plan.STOREY_M) * plan.STOREY_M
    level = np.abs(loop.xyz_m[::5, 2] - storey) < 1e-3  # on a floor, not on the stairs
    assert level.mean() > 0.95
    np.testing.assert_allclose(down.range_m[level], SENSOR_M, atol=0.02)
    np.testing.assert_allclose(down.range_m[~level], SENSOR_M, atol=0.3)
    assert np.all(down.normal_world[level, 2] > 0.99)
    up = raycaster.cast(p, np.tile([0.0, 0.0, 1.0], (len(p), 1)))
    assert up.range_m.min() > 0.5


def test_the_route_comes_back_on_itself_at_several_places(campus) -> None:
    """Revisits after > 200 m of walking, counted in 25 m cells: the plaza crossing, the alley
    crossing near the start, the hall's south door and its ground floor corridor, the crossing
    of the northern loop."""
    _, _, loop = campus
    p, s = loop.xyz_m[::10], loop.s_m[::10]  # every 0.5 m
    pairs = cKDTree(p).query_pairs(2.0, output_type="ndarray")  # [Q, 2], i < j
    later = pairs[s[pairs[:, 1]] - s[pairs[:, 0]] > 200.0, 1]
    cells = {tuple(c) for c in np.floor(p[later] / 25.0).astype(int).tolist()}
    assert len(cells) >= 5
    (x0, y0), (w, d) = plan.HALL_ORIGIN, plan.HALL_SIZE
    indoors = np.all(
        (p[later, :2] > (x0 + 1, y0 + 1)) & (p[later, :2] < (x0 + w - 1, y0 + d - 1)), axis=1
    )
    assert indoors.any() and (~indoors).any()  # the hall's ground floor, and outdoors


def test_the_hall_is_entered_by_two_doors_and_the_stairs_climb_two_storeys(campus) -> None:
    _, _, loop = campus
    doors = plan.hall_to_world([(*xy, 0.0) for xy in plan.HALL_DOORS.values()])
    gap = cKDTree(loop.xyz_m).query(np.array(doors))[0]
    assert np.all(gap < 0.05)  # east (first visit), west (second visit), south (out, twice)
    south = np.linalg.norm(loop.xyz_m - doors[0], axis=1) < 0.3
    assert np.ptp(loop.s_m[south]) > 200.0  # out by the south door on both visits
    z = loop.xyz_m[:, 2]
    assert z.max() == pytest.approx(2 * plan.STOREY_M)
    slope = np.abs(np.diff(z)) / np.diff(loop.s_m)
    assert slope.max() < 0.7  # walkable: a 17 cm rise on a 28 cm tread is 0.6


def test_look_alike_rooms_are_stacked_and_the_route_enters_both(campus) -> None:
    _, raycaster, loop = campus
    room = plan.hall_to_world([(7.0, 5.5, k * plan.STOREY_M) for k in (1, 2)])
    assert np.all(cKDTree(loop.xyz_m).query(np.array(room))[0] < 0.3)
    rng = np.random.default_rng(0)
    d = unit(rng.normal(size=(3000, 3)))
    a, b = (raycaster.cast(np.array(r) + (0.0, 0.0, SENSOR_M), d) for r in room)
    same = np.abs(a.range_m - b.range_m) < 1e-3
    assert same.mean() > 0.95  # only rays out through the doors see anything different


def test_markers_lie_on_surfaces_seen_from_the_route(campus) -> None:
    scene, raycaster, loop = campus
    names = [m.name for m in scene.markers]
    assert 15 <= len(names) <= 30 and len(set(names)) == len(names)
    assert all(n.startswith("CP") for n in names)
    eye = loop.xyz_m[::10] + (0.0, 0.0, SENSOR_M)
    tree_ = cKDTree(eye)
    for m in scene.markers:
        xyz = np.array(m.xyz_m)
        dist, idx = tree_.query(xyz, k=40)
        assert dist[0] < 15.0, m.name
        ray = xyz - eye[idx]
        hits = raycaster.cast(eye[idx], unit(ray))
        seen = np.abs(hits.range_m - np.linalg.norm(ray, axis=1)) < 0.03
        assert seen.any(), m.name


def test_doors_fill_gaps_the_route_goes_through(campus) -> None:
    scene, raycaster, loop = campus
    assert len(scene.doors) >= 10
    for door in scene.doors:
        hinge = np.array(door.hinge_xyz_m) + (0.0, 0.0, 1.0)
        d = np.array([np.cos(door.closed_yaw_rad), np.sin(door.closed_yaw_rad), 0.0])
        along = raycaster.cast(hinge + 0.05 * d, d[None])
        assert along.range_m[0] > door.width_m  # the leaf's place is empty: a gap
        back = raycaster.cast(hinge + 0.05 * d, -d[None])
        assert back.range_m[0] < 0.1  # the hinge is at the jamb
        assert abs(abs(door.swing_rad) - np.pi / 2) < 1e-9 and door.height_m <= 2.2
        centre = np.array(door.hinge_xyz_m) + door.width_m * d
        assert cKDTree(loop.xyz_m).query(centre)[0] < 0.2  # a double door: the route's gap


def test_glass_facades_and_the_glass_pavilion(campus) -> None:
    scene, raycaster, _ = campus
    assert np.sum(scene.surface == GLASS) > 1000
    ox, oy = plan.PAVILION_ORIGIN
    inside = np.array([ox + 12.0, oy + 7.0, SENSOR_M])
    sideways = np.array([[0.0, 1.0, 0.0], [0.0, -1.0, 0.0]])
    hits = raycaster.cast(inside, sideways)
    assert np.all(scene.surface[hits.face_id] == GLASS)


def test_the_underpass_is_long_and_featureless(campus) -> None:
    scene, raycaster, _ = campus
    x = np.arange(plan.TUNNEL_X[0] + 4.0, plan.TUNNEL_X[1] - 3.99, 2.0)  # [N]
    assert plan.TUNNEL_X[1] - plan.TUNNEL_X[0] >= 60.0
    o = np.column_stack([x, np.full(len(x), plan.TUNNEL_Y), np.full(len(x), SENSOR_M)])
    rng = np.random.default_rng(1)
    d = unit(rng.normal(size=(len(x) * 50, 3)) * (0.3, 1.0, 1.0))  # mostly across the tube
    hits = raycaster.cast(np.repeat(o, 50, axis=0), d)
    near = hits.hit & (hits.range_m < 4.0)
    assert near.mean() > 0.8
    faces = hits.face_id[near]
    assert np.all(scene.texture[faces] == PLAIN)
    assert len(np.unique(scene.albedo[faces], axis=0)) == 1  # one plain material, no features


def test_tree_crowns_let_some_lidar_rays_through() -> None:
    b = SceneBuilder()
    rng = np.random.default_rng(2)
    bark, greens = tree_materials(rng)
    tree(b, rng, (0.0, 0.0), bark, greens[0])
    scene = b.build("tree", np.zeros((2, 3)))
    crown = scene.vertices[scene.triangles[-1]].mean(axis=0)  # a leaf
    top, bottom = scene.vertices[:, 2].max(), 3.5
    z = rng.uniform(bottom, top, 2000)
    y = rng.uniform(-1.5, 1.5, 2000)
    o = np.column_stack([np.full(2000, -15.0), y, z])
    hits = Raycaster(scene).cast(o, np.tile([1.0, 0.0, 0.0], (2000, 1)))
    assert 0.3 < hits.hit.mean() < 0.95  # partly through, not a solid wall
    assert np.std(hits.range_m[hits.hit]) > 0.4  # hits at many depths inside the crown
    assert crown[2] > 2.0


def test_same_seed_same_campus_other_seed_other_trees() -> None:
    a, b, c = make_scene("campus", 7), make_scene("campus", 7), make_scene("campus", 8)
    for field in ("vertices", "triangles", "albedo", "texture", "surface", "walk_path"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
    assert a.markers == b.markers and a.doors == b.doors
    np.testing.assert_array_equal(a.walk_path, c.walk_path)  # the route is the plan's
    assert a.markers == c.markers
    assert len(a.vertices) != len(c.vertices) or not np.array_equal(a.vertices, c.vertices)


def test_a_30_minute_walk_marks_every_marker_and_the_control_file_is_the_truth(
    campus, tmp_path
) -> None:
    from drivers.sessions.marks import mark_positions, read_marks
    from drivers.sim.generate import (
        CONTROL,
        CONTROL_EPSG,
        CONTROL_ORIGIN_M,
        marker_passes,
        write_control,
    )
    from products.georef import read_control_csv

    scene = campus[0]
    walk = make_trajectory(scene.walk_path, "walk", 1800.0, 0)
    t = np.arange(0.0, 1800.0, 0.05)
    T = walk.pose(t)
    names, t_mark = marker_passes(
        [m.name for m in scene.markers], np.array([m.xyz_m for m in scene.markers]), t, T[:, :3, 3]
    )
    assert names == [m.name for m in scene.markers]  # each passed within 15 m, after 2 s
    assert (t_mark >= 2.0).all()
    k = np.searchsorted(t, t_mark)
    write_control(tmp_path, names, t_mark, T[k])
    control = {c.name: c for c in read_control_csv(tmp_path / CONTROL)}
    xyz = mark_positions(read_marks(tmp_path), t, T)  # on the true trajectory
    for name, p in zip(names, xyz, strict=True):
        assert control[name].epsg == CONTROL_EPSG
        assert np.allclose(control[name].xyz_m - CONTROL_ORIGIN_M, p, atol=1e-3)
