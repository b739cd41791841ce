import numpy as np
import pytest

from drivers.frames import LidarSweep
from slam.config import MappingConfig
from slam.mapping import Mapper, read_graph
from slam.odometry import OdometryStep
from slam.se3 import se3_inv, so3_exp, transform
from slam.submaps import SubmapContent, load_submap, submap_files
from tests.slam.scenes import pose, yard_points


def _walk(step_m=0.5, side_m=14.0):
    """A square loop around the yard's middle, ending where it began: true poses [N, 4, 4]."""
    T, out = pose(-side_m / 2, -side_m / 2, 1.2), []
    for k in range(int(4 * side_m / step_m) + 6):  # and on a little, over the start again
        out.append(T.copy())
        T = T @ pose(step_m, 0)
        if (k + 1) % int(side_m / step_m) == 0:
            T = T @ pose(0, 0, 0, np.pi / 2)
    return np.array(out)


def _steps(truth, yard, rng, yaw_drift_deg_per_step=0.05):
    """The odometry's steps: each sweep seen from the true pose, placed by a drifting one."""
    err = np.eye(4)
    err[:3, :3] = so3_exp(np.radians([0, 0, yaw_drift_deg_per_step]))
    odo = truth[0].copy()
    for k, T in enumerate(truth):
        if k:
            odo = odo @ se3_inv(truth[k - 1]) @ T @ err
        near = np.linalg.norm(yard[:, :2] - T[:2, 3], axis=1) < 12
        local = transform(se3_inv(T), yard[near][rng.choice(near.sum(), 6000, replace=False)])
        n = len(local)
        sweep = LidarSweep(
            k * 100_000_000, local.astype(np.float32), np.full(n, 50.0, np.float32),
            np.linspace(0, 0.099, n).astype(np.float32), k,
        )  # fmt: skip
        world = transform(odo, local)
        yield OdometryStep(sweep.t_ns + 50_000_000, odo.copy(), world[::10], 1.0,
                           np.zeros((6, 6)), False, world, np.arange(n)), sweep  # fmt: skip


def _ate(T, truth):
    return float(np.sqrt(np.mean(np.sum((T[:, :3, 3] - truth[:, :3, 3]) ** 2, axis=1))))


def test_the_mapper_closes_the_loop_and_the_products_read_it_back(tmp_path):
    rng = np.random.default_rng(0)
    yard, truth = yard_points(rng), _walk()
    cfg = MappingConfig(submap_length_m=8.0)
    mapper = Mapper(cfg, tmp_path / "submaps", SubmapContent(0.05, keep_rays=True), levelled=True)
    for step, sweep in _steps(truth, yard, rng):
        mapper.add(step, sweep)
    result = mapper.finish({"sweeps_in": len(truth)})

    assert result.n_submaps == len(submap_files(tmp_path / "submaps")) >= 7
    assert len(result.loops) >= 1
    assert all(lc.j - lc.i >= 3 for lc in result.loops)  # across the walk, not neighbours
    odometry, graph = _ate(result.T_world_lidar_odometry, truth), _ate(result.T_world_lidar, truth)
    assert odometry > 0.3  # 6 degrees of heading drift around the square
    assert graph < 0.3 * odometry
    np.testing.assert_allclose(result.t_s, np.arange(len(truth)) * 0.1 + 0.05)

    back = read_graph(tmp_path / "submaps")
    np.testing.assert_allclose(back.T_world_lidar, result.T_world_lidar, atol=1e-6)
    assert len(back.loops) == len(result.loops) and back.meta["sweeps_in"] == len(truth)
    phases = back.meta["mapping_phase_s"]  # where the mapping's time went
    beside = phases.pop("outliers_and_save")  # in the saver's thread, beside the rest
    assert set(phases) == {"submaps", "loop_search", "loop_verify", "graph"}
    assert phases["loop_verify"] > 0 and phases["submaps"] > 0 and beside > 0
    assert sum(phases.values()) <= back.meta["mapping_s"] + 1e-3

    sub = load_submap(submap_files(tmp_path / "submaps")[0])
    assert len(sub.xyz_m) and len(sub.ray_ends) and len(sub.coarse_m) < len(sub.xyz_m)
    assert sub.path_m <= cfg.submap_length_m + 0.5


def test_a_mapping_cut_off_before_its_end_is_not_read(tmp_path):
    rng = np.random.default_rng(1)
    yard, truth = yard_points(rng), _walk()[:40]
    mapper = Mapper(
        MappingConfig(submap_length_m=5.0), tmp_path / "s", SubmapContent(0.05), levelled=True
    )
    for step, sweep in _steps(truth, yard, rng):
        mapper.add(step, sweep)
    assert read_graph(tmp_path / "s") is None  # no graph.json: the scan did not finish
    mapper.finish()
    assert read_graph(tmp_path / "s") is not None
    submap_files(tmp_path / "s")[-1].unlink()  # a submap lost
    assert read_graph(tmp_path / "s") is None


def test_a_mapping_never_deletes_what_is_not_a_mapping(tmp_path):
    from slam.mapping import foreign_files

    folder = tmp_path / "submaps"
    folder.mkdir()
    for name in ("00000.npz", "00001.npz.tmp", "graph.json", "graph.json.tmp"):
        (folder / name).write_bytes(b"")  # an earlier mapping, cut off by a power failure
    assert foreign_files(folder) == []
    Mapper(MappingConfig(), folder, SubmapContent(0.05), levelled=True)  # replaced
    assert list(folder.iterdir()) == []

    (folder / "notes.txt").write_text("mine")
    assert foreign_files(folder) == ["notes.txt"]
    with pytest.raises(ValueError, match="notes.txt"):
        Mapper(MappingConfig(), folder, SubmapContent(0.05), levelled=True)
    assert (folder / "notes.txt").read_text() == "mine"


def test_submaps_are_saved_without_their_outliers_beside_the_odometry(tmp_path):
    """A stray return in every sweep (high above the yard, each somewhere else) is gone from
    the submaps on disk; the clearing ran in the saver's thread."""
    rng = np.random.default_rng(4)
    yard, truth = yard_points(rng), _walk()[:30]
    mapper = Mapper(MappingConfig(submap_length_m=5.0), tmp_path / "s", SubmapContent(0.05), True)
    strays = 0
    for step, sweep in _steps(truth, yard, rng):
        stray = rng.uniform(-30, 30, 3) + [0, 0, 40]  # world, far from anything
        local = transform(se3_inv(step.T_world_lidar), stray[None])
        sweep = LidarSweep(
            sweep.t_ns, np.vstack([sweep.xyz_m, local.astype(np.float32)]),
            np.append(sweep.intensity, 50.0).astype(np.float32),
            np.append(sweep.point_dt_s, 0.05).astype(np.float32), sweep.index,
        )  # fmt: skip
        world = np.vstack([step.scan_world, stray[None]])
        step = OdometryStep(step.t_ns, step.T_world_lidar, step.points_world, 1.0, step.information,
                            False, world, np.arange(len(world)))  # fmt: skip
        mapper.add(step, sweep)
        strays += 1
    result = mapper.finish()
    kept = np.concatenate(
        [transform(result.T_world_anchor[k], load_submap(f).xyz_m) for k, f in
         enumerate(submap_files(tmp_path / "s"))]
    )  # fmt: skip
    assert strays == 30 and (kept[:, 2] > 20).sum() == 0 and len(kept) > 10_000
    assert result.meta["mapping_phase_s"]["outliers_and_save"] > 0


def test_a_slow_saver_makes_the_mapping_wait_instead_of_piling_up_submaps(tmp_path, monkeypatch):
    """Clearing outliers slower than the walk (the 30-minute campus on 2 cores): at most
    MAX_UNSAVED closed submaps wait in memory for the saver, and every one still reaches the
    disk."""
    import threading
    import time

    import slam.mapping as mapping

    waiting, lock, most = [0], threading.Lock(), [0]
    slow = mapping.without_outliers

    def slow_clear(submap, content):
        time.sleep(0.3)  # the saver lags the mapping by far
        with lock:
            waiting[0] -= 1
        return slow(submap, content)

    monkeypatch.setattr(mapping, "without_outliers", slow_clear)
    rng = np.random.default_rng(5)
    yard, truth = yard_points(rng), _walk()[:40]
    mapper = Mapper(MappingConfig(submap_length_m=1.0, loop_closure=False), tmp_path / "s",
                    SubmapContent(0.05), True)  # fmt: skip
    submit = mapper._saver.submit

    def counted(fn, *args):
        with lock:
            waiting[0] += 1
            most[0] = max(most[0], waiting[0])
        return submit(fn, *args)

    monkeypatch.setattr(mapper._saver, "submit", counted)
    for step, sweep in _steps(truth, yard, rng):
        mapper.add(step, sweep)
    result = mapper.finish()
    assert result.n_submaps >= 10
    assert most[0] <= mapping.MAX_UNSAVED
    assert len(submap_files(tmp_path / "s")) == result.n_submaps


def test_a_step_is_as_blind_as_its_weakest_direction_of_translation():
    """A street between long walls: the fewer surfaces face along it, the blinder the walk
    along it counts for the pose graph, from fully (a corridor, or the odometry said so) to
    not at all (a room)."""
    from slam.mapping import blindness

    rng = np.random.default_rng(3)

    def step(n_across: int, degenerate_axis=None) -> OdometryStep:
        pts = rng.uniform([-20, -6, -1], [20, 6, 8], (2000 + n_across, 3))
        normals = np.zeros_like(pts)
        normals[:1000, 1] = 1.0  # the street's walls
        normals[1000:2000, 2] = 1.0  # the ground
        normals[2000:, 0] = 1.0  # what faces along the street
        J = np.hstack([np.cross(pts, normals), normals])
        return OdometryStep(0, np.eye(4), pts, 1.0, J.T @ J, False,
                            degenerate_axis=degenerate_axis)  # fmt: skip

    cfg = MappingConfig()
    seen = [blindness(step(n), cfg) for n in (0, 100, 250, 350, 1000)]
    amounts = [b for b, _ in seen]
    assert amounts[0] == 1.0 and amounts[-1] == 0.0
    assert all(a >= b for a, b in zip(amounts, amounts[1:], strict=False))
    assert any(0.0 < a < 1.0 for a in amounts)  # partly blind in between
    assert all(abs(axis[0]) > 0.95 for b, axis in seen if b > 0)  # along the street
    assert blindness(step(1000, np.array([0.0, 1.0, 0.0])), cfg)[0] == 1.0  # the odometry's word
    nothing = OdometryStep(0, np.eye(4), np.zeros((0, 3)), 0.0, np.zeros((6, 6)), False)
    assert blindness(nothing, cfg)[0] == 0.0
