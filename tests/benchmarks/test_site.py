"""`scanner bench --only site` on a short walk: ours (LIO, and with the global mapping), kiss-icp,
rko_lio and kiss-slam, each in its own process, against the twin's truth."""

import math

import pytest

from slam.config import OdometryConfig


def test_site_bench_runs_the_five_methods_each_in_its_own_process(tmp_path):
    pytest.importorskip("kiss_icp")
    pytest.importorskip("rko_lio")
    pytest.importorskip("kiss_slam")
    from benchmarks.site import SiteSequence, run_site, site_session

    seq = SiteSequence("courtyard", 8.0, seed=2)
    heard: list[str] = []
    out = tmp_path / "site.md"
    rows = run_site(
        OdometryConfig(), out, tmp_path / "cache", heard.append, sequences=[seq], realism="ideal"
    )
    assert [r.method for r in rows][:2] == ["scanner LIO", "scanner SLAM"]
    assert [r.method.split()[0] for r in rows][2:] == ["kiss-icp", "rko_lio", "kiss-slam"]
    for r in rows:
        assert r.sequence == "courtyard-8s-ideal" and "failed" not in r.note
        assert math.isfinite(r.ate_m) and math.isfinite(r.drift_pct) and math.isfinite(r.z_max_m)
        assert r.ate_m < 0.5 and r.drift_pct < 10.0  # 8 s of walking: all five hold on
        assert r.points_per_s > 0 and r.path_m > 3.0
        assert 30 < r.start_rss_mb <= r.peak_rss_mb < 4000  # each its own process, not ours
    assert rows[0].ate_m < 0.05 and rows[1].ate_m < 0.05  # the LIO on the ideal twin
    assert "submaps" in rows[1].note  # 8 s: no loop to close
    assert all(math.isnan(r.z_relative_m) for r in rows)  # 8 s: no 100 m stretch walked
    table = out.read_text()
    assert table.count("| courtyard-8s-ideal") == 5 and "rko_lio" in table and "kiss-slam" in table
    assert "Z per 100 m [mm]" in table
    for method in ("scanner-lio", "scanner-slam", "kiss-icp", "rko-lio", "kiss-slam"):
        tum = tmp_path / f"site.courtyard-8s-ideal.{method}.tum"
        assert tum.read_text().count("\n") > 50  # ~80 sweeps
    assert any("generating" in h for h in heard)
    session = site_session(tmp_path / "cache", seq, "ideal")  # cached: no second generation
    assert session.name == "courtyard-walk-8s-ideal-seed2"
    assert not list((tmp_path / "cache").glob("*.partial"))


def test_kiss_slam_gives_every_sweep_its_optimised_pose(tmp_path):
    pytest.importorskip("kiss_slam")
    import numpy as np
    from kiss_slam.config import load_config

    from benchmarks.site import (
        SiteSequence,
        _sweeps,
        run_kiss_slam,
        run_method,
        site_session,
    )
    from drivers.sessions.trajectory import read_tum
    from slam.metrics import ate_rmse

    session = site_session(tmp_path, SiteSequence("courtyard", 5.0, seed=2), "ideal")
    ends = np.array([s.end_ns * 1e-9 for s in _sweeps(session)])
    t_gt, T_gt = read_tum(session / "ground_truth.tum")

    run = run_method("kiss-slam", session, OdometryConfig())  # its default config, here
    assert run.method.startswith("kiss-slam 0.0.") and "1 local maps, 0 closures" in run.note
    assert run.T_world_lidar.shape == (len(ends), 4, 4) and len(ends) > 40
    assert np.allclose(run.t_s, ends, atol=1e-6)  # at each sweep's last point, as kiss-icp's
    assert np.allclose(run.T_world_lidar[0], np.eye(4))
    assert ate_rmse(run.t_s, run.T_world_lidar, t_gt, T_gt).rmse_m < 0.1
    assert run.n_points > 1000 * len(ends) and run.wall_s > 0

    # local maps cut every 0.2 m: the poses of every map's sweeps, chained through the graph
    config = load_config(None)
    config.local_mapper.splitting_distance = 0.2
    split = run_kiss_slam(_sweeps(session), config)
    assert split.n_local_maps >= 3 and split.T_world_lidar.shape == run.T_world_lidar.shape
    assert np.allclose(split.t_s, ends, atol=1e-6)
    dp = np.linalg.norm(split.T_world_lidar[:, :3, 3] - run.T_world_lidar[:, :3, 3], axis=1)
    assert dp.max() < 0.05  # one walk either way: the graph only re-chains the odometry


def test_revisits_pair_the_return_to_a_place_with_the_first_visit():
    from types import SimpleNamespace

    import numpy as np

    from benchmarks.site import revisits

    # out along x for 20 s at 1 m/s and back; a submap every 5 s, a pose every 0.5 s
    t_gt = np.arange(0.0, 40.0, 0.1)
    x = np.where(t_gt <= 20.0, t_gt, 40.0 - t_gt)
    T_gt = np.tile(np.eye(4), (len(t_gt), 1, 1))
    T_gt[:, 0, 3] = x
    t_s = np.arange(0.0, 40.0, 0.5)
    result = SimpleNamespace(t_s=t_s, submap_of_pose=(t_s // 5).astype(int), n_submaps=8)

    pairs = revisits(result, t_gt, T_gt, max_dist_m=2.0, min_path_m=20.0)

    # anchors at x = 0 5 10 15 20 15 10 5 (path 0 5 .. 35): 15 is back after only 10 m
    assert pairs == [(2, 6), (1, 7)]
