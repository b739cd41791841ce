import numpy as np

from slam.config import MappingConfig
from slam.pose_graph import PoseGraph
from slam.se3 import so3_exp
from tests.slam.scenes import pose

CFG = MappingConfig()


def _square_walk(n_side=5, step_m=5.0):  # -> true anchors [4 n_side + 1, 4, 4], a closed square
    T, out = np.eye(4), [np.eye(4)]
    for k in range(4 * n_side):
        T = T @ pose(step_m, 0)
        if (k + 1) % n_side == 0:
            T = T @ pose(0, 0, 0, np.pi / 2)
        out.append(T.copy())
    return np.array(out)


def _drifted(truth, yaw_deg_per_step=0.25, roll_deg_per_step=0.0):
    """The odometry: each relative pose with a heading (and roll) error."""
    out = [truth[0]]
    err = np.eye(4)
    err[:3, :3] = so3_exp(np.radians([roll_deg_per_step, 0.0, yaw_deg_per_step]))
    for a, b in zip(truth[:-1], truth[1:], strict=True):
        out.append(out[-1] @ np.linalg.inv(a) @ b @ err)
    return np.array(out)


def test_a_loop_pulls_the_drifted_square_back_onto_the_truth():
    truth = _square_walk()
    odom = _drifted(truth)
    graph = PoseGraph(CFG, levelled=True)
    for k, T in enumerate(odom):
        graph.add_anchor(T, 5.0 if k else 0.0)
        graph.update()
    before = np.linalg.norm(graph.poses()[-1, :3, 3] - truth[-1, :3, 3])
    graph.add_loop(0, len(truth) - 1, np.linalg.inv(truth[0]) @ truth[-1])
    graph.update()
    online = np.linalg.norm(graph.poses()[-1, :3, 3] - truth[-1, :3, 3])
    graph.optimize()
    after = np.linalg.norm(graph.poses()[:, :3, 3] - truth[:, :3, 3], axis=1)
    assert before > 1.5  # 5 degrees of heading over 100 m (the config's 0.05 deg/m)
    assert online < 0.1 * before  # iSAM2 already took it
    assert after[-1] < 0.05 and after.max() < 0.2 * before
    assert graph.n_loops == 1
    np.testing.assert_allclose(graph.odometry_poses(), odom)


def _tilt_deg(T):  # [K, 4, 4] -> [K] angle between each anchor's up and the world's
    return np.degrees(np.arccos(np.clip(T[:, 2, 2], -1, 1)))


def test_gravity_keeps_the_map_level_against_a_tilted_loop():
    truth = _square_walk()
    odom = _drifted(truth)
    bad = np.eye(4)
    bad[:3, :3] = so3_exp(np.radians([3.0, 0.0, 0.0]))  # the loop's registration rolled 3 deg
    tilts = {}
    for levelled in (True, False):
        graph = PoseGraph(CFG, levelled=levelled)
        for k, T in enumerate(odom):
            graph.add_anchor(T, 5.0 if k else 0.0)
        graph.add_loop(0, len(truth) - 1, np.linalg.inv(truth[0]) @ truth[-1] @ bad)
        graph.optimize()
        tilts[levelled] = _tilt_deg(graph.poses()).max()
    assert tilts[True] < 0.5 < tilts[False]


def test_a_loop_puts_its_correction_where_the_lidar_was_blind():
    # a straight out-and-back along x; on one stretch out (anchors 3-4, a featureless tunnel)
    # the odometry slid 4 m too far along x, and it knew that x was unseen there
    truth = np.array(
        [pose(5.0 * k, 0) for k in range(8)] + [pose(5.0 * (7 - k), 0.5) for k in range(1, 8)]
    )
    odom = truth.copy()
    odom[4:, 0, 3] += 4.0
    blind = np.zeros((3, 3))
    blind[0, 0] = 5.0  # 5 m walked blind along x
    errors = {}
    for name, blind_of in (("told", {4: blind}), ("not told", {})):
        graph = PoseGraph(CFG, levelled=True)
        for k, T in enumerate(odom):
            graph.add_anchor(T, 5.0 if k else 0.0, blind_of.get(k))
        graph.add_loop(0, len(truth) - 1, np.linalg.inv(truth[0]) @ truth[-1])
        graph.optimize()
        errors[name] = np.linalg.norm(graph.poses()[:, :3, 3] - truth[:, :3, 3], axis=1)
    assert errors["told"].max() < 0.2  # the 4 m went into the blind stretch
    assert errors["not told"].max() > 1.0  # spread over the whole walk instead


def test_control_points_bend_a_drifted_walk_onto_the_survey():
    # an L-shaped walk whose odometry turns 0.25 deg too far each step; three points of it
    # surveyed (the reference point 0.3 m below and 0.2 m beside the anchor)
    truth = _square_walk(n_side=6)[:13]
    odom = _drifted(truth)
    p_anchor = np.array([0.2, 0.0, -0.3])
    errors = {}
    for name, surveyed in (("none", ()), ("three", (0, 6, 12))):
        graph = PoseGraph(CFG, levelled=True)
        for k, T in enumerate(odom):
            graph.add_anchor(T, 5.0 if k else 0.0)
        for k in surveyed:
            graph.add_position_prior(
                k, p_anchor, truth[k][:3, :3] @ p_anchor + truth[k][:3, 3], 0.01
            )
        graph.optimize()
        errors[name] = np.linalg.norm(graph.poses()[:, :3, 3] - truth[:, :3, 3], axis=1)
    assert errors["none"].max() > 1.0  # 12 steps of 0.25 deg over 60 m
    assert errors["three"].max() < 0.25 and errors["three"][[0, 6, 12]].max() < 0.02


def test_a_saved_graph_rebuilt_keeps_its_noises_and_optimum(tmp_path):
    from slam.loop_closure import LoopClosure
    from slam.mapping import MappingResult, read_graph, rebuild_graph, write_graph

    truth = _square_walk()
    odom = _drifted(truth)
    graph = PoseGraph(CFG, levelled=True)
    blind = np.diag([5.0, 0.0, 0.0])
    for k, T in enumerate(odom):
        graph.add_anchor(T, 5.0 if k else 0.0, blind if k == 7 else None)
    loop = LoopClosure(0, len(truth) - 1, np.linalg.inv(truth[0]) @ truth[-1], 0.9, 0.02, 1, 1)
    graph.add_loop(loop.i, loop.j, loop.T_i_j)
    graph.optimize()
    K = len(odom)
    result = MappingResult(
        folder=tmp_path, t_s=np.arange(K, dtype=float), T_world_lidar=graph.poses(),
        T_world_lidar_odometry=odom, submap_of_pose=np.arange(K), T_world_anchor=graph.poses(),
        T_world_anchor_odometry=odom, loops=[loop], rejected=0, optimise_s=0.0,
        between_cov=np.array(graph.between_cov), levelled=True,
    )  # fmt: skip
    write_graph(result)
    for k in range(K):  # read_graph needs the submap files beside graph.json
        np.savez(tmp_path / f"{k:05d}.npz", pose_t_s=[float(k)], T_anchor_lidar=np.eye(4)[None])
    back = read_graph(tmp_path)
    assert back is not None and np.allclose(back.between_cov, graph.between_cov)
    blind_var, seen_var = (np.trace(back.between_cov[k][3:, 3:]) for k in (6, 5))
    assert blind_var > 2 * seen_var  # the blind stretch
    again = rebuild_graph(back, CFG)
    again.optimize()
    assert np.abs(again.poses() - graph.poses()).max() < 1e-3  # the same graph
