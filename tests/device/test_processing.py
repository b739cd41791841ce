"""Post-processing: a closed session in, products out; bad sessions fail with a reason."""

import shutil
import threading

import numpy as np
import pytest

from device.config import ScannerConfig
from device.processing import ProcessingError, ProcessingJob, process_session
from drivers.sessions.manifest import SessionState, read_manifest
from drivers.sessions.trajectory import read_tum
from products.accuracy import session_colour_accuracy, session_map_accuracy


@pytest.fixture
def session(twin_session, tmp_path):
    path = tmp_path / "s"
    shutil.copytree(twin_session, path)
    return path


def test_products_are_made_and_the_session_is_done(session, tmp_path):
    stages = []
    stats = process_session(
        session, ScannerConfig(data_dir=tmp_path), lambda s, f: stages.append((s, f))
    )
    m = read_manifest(session)
    assert m.state == SessionState.done
    assert {"map.ply", "map.laz", "map.e57", "map.pcd", "trajectory.tum", "report.html"} <= set(
        m.products
    )
    t, T = read_tum(session / "products" / "trajectory.tum")
    assert len(t) >= 40 and stats["mode"] == "LiDAR-inertial"
    # the path agrees with the twin's ground truth: the distance between the first and the
    # last pose (frame-free) within 5 cm
    t_gt, T_gt = read_tum(session / "ground_truth.tum")
    p_gt = [T_gt[np.argmin(abs(t_gt - x))][:3, 3] for x in (t[0], t[-1])]
    moved = np.linalg.norm(T[-1][:3, 3] - T[0][:3, 3])
    assert moved > 0.2 and abs(moved - np.linalg.norm(p_gt[1] - p_gt[0])) < 0.05
    assert stats["distance_m"] >= moved
    # the map lies on the twin's true surfaces (measured: median 0.8 cm, p95 3.2 cm)
    acc = session_map_accuracy(session)
    assert acc["median_m"] < 0.015 and acc["p95_m"] < 0.05 and acc["points"] > 100_000
    assert stats["final_map_points"] == acc["points"]
    # the camera's colours match the twin's surfaces (measured: median 1.3, p90 5.9 of 255)
    col = session_colour_accuracy(session)
    assert col["coloured_fraction"] > 0.1 and col["median_error"] < 10 and col["p90_error"] < 25
    html = (session / "products" / "report.html").read_text()
    assert m.id in html and "data:image/png;base64," in html
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert stats["slam_source"] == "rerun" and stats["submaps"] >= 1  # no live SLAM here
    # products are functions of the session: processing again gives the same trajectory, from
    # the submaps and pose graph the first run left (no second SLAM pass); the maps of the
    # formats it does not make, from the earlier map, are gone (a paged map made later, say)
    (session / "products" / "map.copc.laz").write_bytes(b"an earlier map")
    again = process_session(session, ScannerConfig(data_dir=tmp_path))
    assert not (session / "products" / "map.copc.laz").exists()
    t2, T2 = read_tum(session / "products" / "trajectory.tum")
    assert (t2 == t).all() and abs(T2 - T).max() < 1e-6
    assert again["slam_source"] == "live"
    assert again["final_map_points"] == len(read_ply_xyz(session))


def read_ply_xyz(session):
    from plyfile import PlyData

    return PlyData.read(session / "products" / "map.ply")["vertex"].data


def test_submaps_that_missed_sweeps_are_not_used(session, tmp_path):
    """The live SLAM's submaps make the products only when it saw every sweep recorded."""
    import json

    cfg = ScannerConfig(data_dir=tmp_path)
    process_session(session, cfg)
    graph = session / "submaps" / "graph.json"
    doc = json.loads(graph.read_text())
    doc["meta"]["sweeps_in"] -= 3  # frames it was too late for
    graph.write_text(json.dumps(doc))
    assert process_session(session, cfg)["slam_source"] == "rerun"
    (session / "submaps" / "00000.npz").unlink()  # a power cut before the last write
    assert process_session(session, cfg)["slam_source"] == "rerun"


def test_products_are_downloadable_as_they_are_made(session, tmp_path, monkeypatch):
    """The trajectory, then map.ply with the report, are listed while the other formats are
    still being written; a format that fails leaves them downloadable and nothing half-written
    listed (its .tmp and the map's work folder are not products)."""
    import products.export

    seen = []
    write_map = products.export.write_map

    def failing_e57(path, cloud, fmt, **kw):
        seen.append((fmt, sorted(read_manifest(session).products)))
        if fmt == "e57":
            path.write_bytes(b"half")
            raise OSError("no space left on device")
        return write_map(path, cloud, fmt, **kw)

    monkeypatch.setattr(products.export, "write_map", failing_e57)
    with pytest.raises(ProcessingError, match="no space left"):
        process_session(session, ScannerConfig(data_dir=tmp_path))
    assert seen[0] == ("ply", ["trajectory.tum"])
    assert seen[1] == ("laz", ["map.ply", "report.html", "trajectory.tum"])
    m = read_manifest(session)
    assert m.state == SessionState.failed and "no space left" in m.error
    assert m.products == ["map.laz", "map.ply", "report.html", "trajectory.tum"]
    laz = (session / "products" / "map.laz").read_bytes()
    assert laz[:4] == b"LASF" and laz[104] & 0x80  # compressed, though written as map.laz.tmp
    assert not (session / "products" / ".map").exists()  # the map's work folder is cleared
    assert not list((session / "products").glob("*.tmp"))


def test_a_broken_recording_fails_with_a_reason(session, tmp_path):
    (session / "raw.mcap").write_bytes(b"\x89MCAP0\r\n garbage")
    with pytest.raises(ProcessingError, match="no lidar sweeps"):
        process_session(session, ScannerConfig(data_dir=tmp_path))
    m = read_manifest(session)
    assert m.state == SessionState.failed and "no lidar sweeps" in m.error


def test_the_job_runs_in_its_own_process_and_reports(session, tmp_path):
    done = threading.Event()
    training = []  # what the daemon would see when it is told (a delete must not get 409)

    def finished(j):
        training.append(j.training_splat)
        done.set()

    job = ProcessingJob(session, ScannerConfig(data_dir=tmp_path), finished).start()
    assert done.wait(120)
    assert training == [False]  # no splat configured: nothing after the map
    assert job.error is None and job.stage == "done" and job.fraction == 1.0
    assert read_manifest(session).state == SessionState.done


TINY_SPLAT = dict(enabled=True, iterations=10, device="cpu", image_scale=0.25, map_voxel_m=0.3)


def test_a_splat_is_trained_after_the_map_when_configured(session):
    from device.processing import splat_session
    from splat.config import SplatConfig

    cfg = ScannerConfig(splat=SplatConfig(**TINY_SPLAT))
    process_session(session, cfg)
    assert "splat.ply" not in read_manifest(session).products  # the map comes first, alone
    stages = []
    stats = splat_session(session, cfg, lambda stage, f: stages.append((stage, f)))
    m = read_manifest(session)
    assert m.state == SessionState.done
    assert {"splat.ply", "scene.splat", "splat.json", "map.ply"} <= set(m.products)
    assert not any(p.startswith(".") for p in m.products)  # the checkpoint is not a product
    assert stats["iterations"] == 10 and stats["after"]["gaussians"] > 100
    assert m.stats["splat"] == stats and "slam" in m.stats
    fractions = [f for _, f in stages]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_a_failed_splat_leaves_the_map_products_done(session, monkeypatch):
    import splat.train
    from device.processing import splat_session
    from splat.config import SplatConfig

    def broken(*args, **kwargs):
        raise RuntimeError("CUDA out of memory")

    cfg = ScannerConfig(splat=SplatConfig(**TINY_SPLAT))
    process_session(session, cfg)
    monkeypatch.setattr(splat.train, "train_session", broken)
    stats = splat_session(session, cfg)
    m = read_manifest(session)
    assert m.state == SessionState.done and "map.ply" in m.products
    assert "splat.ply" not in m.products
    assert stats == {"error": "RuntimeError: CUDA out of memory"}


def test_the_job_frees_the_scanner_before_the_splat_trains(session):
    from splat.config import SplatConfig

    cfg = ScannerConfig(splat=SplatConfig(**{**TINY_SPLAT, "iterations": 60}))
    job = ProcessingJob(session, cfg, lambda j: None).start()
    assert job.finished.wait(300)
    assert job.error is None and read_manifest(session).state == SessionState.done
    assert job.training_splat  # the map is done and the splat is still on its way
    assert job.splat_finished.wait(300)
    assert "scene.splat" in read_manifest(session).products
