"""A whole twin session: files, independent readers, physical consistency, determinism."""

import json
from pathlib import Path

import numpy as np
import pytest

from drivers.sessions import rosmsg
from drivers.sessions.manifest import SessionState, read_manifest
from drivers.sessions.recording import read_frames
from drivers.sessions.trajectory import read_tum
from drivers.sim.camera import CameraModel
from drivers.sim.generate import T0_NS, SimSettings, generate_session
from drivers.sim.scenes.catalog import make_scene
from drivers.sim.scenes.raycast import Raycaster

SMALL = SimSettings(
    scene="office",
    seed=3,
    duration_s=1.5,
    motion="walk",
    camera_rate_hz=10.0,
    camera=CameraModel.from_hfov(90.0, width=160, height=90),
)


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("twin") / "s"
    generate_session(out, SMALL)
    return out


def test_session_files_and_manifest(session):
    names = {p.name for p in session.iterdir()}
    assert {"session.json", "raw.mcap", "ground_truth.tum", "scene.ply"} <= names
    m = read_manifest(session)
    assert m.state == SessionState.recorded and m.source == "digital-twin"
    assert m.start_ns == T0_NS and abs(m.duration_s - 1.5) < 1e-9
    assert (
        m.stats["lidar_sweeps"] == 15 and m.stats["imu_samples"] == 300 and m.stats["images"] == 15
    )
    assert m.calibration.camera.width == 160
    assert np.allclose(np.array(m.calibration.T_lidar_imu)[:3, 3], [0.011, 0.02329, -0.04412])
    json.loads((session / "session.json").read_text())  # plain JSON for any tool
    t, T = read_tum(session / "ground_truth.tum")
    assert np.all(np.diff(t) > 0) and 1.0 / np.median(np.diff(t)) >= 100.0


def test_independent_readers_see_every_message(session):
    from mcap.reader import make_reader
    from mcap_ros2.decoder import DecoderFactory
    from rosbags.highlevel import AnyReader

    counts: dict[str, int] = {}
    with open(session / "raw.mcap", "rb") as f:
        reader = make_reader(f, decoder_factories=[DecoderFactory()])
        for _, channel, _, msg in reader.iter_decoded_messages():
            counts[channel.topic] = counts.get(channel.topic, 0) + 1
            if channel.topic == rosmsg.LIDAR_TOPIC:
                assert [fl.name for fl in msg.fields] == [
                    "x",
                    "y",
                    "z",
                    "intensity",
                    "tag",
                    "line",
                    "timestamp",
                ]
                assert msg.point_step == 26 and msg.width > 5000
            if (
                channel.topic == rosmsg.IMU_TOPIC
                and msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec < T0_NS + 10**9
            ):
                a = msg.linear_acceleration  # SI units at rest: about 9.81, not 1 (g)
                assert 9.3 < np.linalg.norm([a.x, a.y, a.z]) < 10.3
    assert counts == {
        rosmsg.CAMERA_INFO_TOPIC: 1,
        rosmsg.LIDAR_TOPIC: 15,
        rosmsg.IMU_TOPIC: 300,
        rosmsg.IMAGE_TOPIC: 15,
    }
    with AnyReader([session / "raw.mcap"]) as r:
        assert {c.topic: c.msgcount for c in r.connections} == counts


def test_lidar_points_lie_on_the_mesh_with_the_modelled_noise(session):
    """In the still first second, every return's range matches the true range to N(0, 2 cm)."""
    scene = make_scene("office", SMALL.seed)
    caster = Raycaster(scene)
    t_gt, T_gt = read_tum(session / "ground_truth.tum")
    residuals, n_points, span_s = [], 0, 0.0
    for _, sweep in read_frames(session / "raw.mcap", topics=(rosmsg.LIDAR_TOPIC,)):
        if sweep.t_ns >= T0_NS + 1_000_000_000:
            break
        T = T_gt[np.searchsorted(t_gt, sweep.t_s - 1e-6)]  # standing still: one pose
        r = np.linalg.norm(sweep.xyz_m, axis=1)
        dirs = sweep.xyz_m / r[:, None]
        hits = caster.cast(np.broadcast_to(T[:3, 3], dirs.shape), dirs @ T[:3, :3].T)
        residuals.append(r - hits.range_m)
        n_points += len(sweep)
        span_s += 0.1
        assert sweep.point_dt_s.max() < 0.1 and set(np.unique(sweep.line)) <= {0, 1, 2, 3}
    res = np.concatenate(residuals)
    res = res[np.abs(res) < 0.5]  # rays that graze an edge can hit another surface
    assert abs(np.mean(res)) < 0.002
    assert 0.018 < np.std(res) < 0.022  # the model's 2 cm
    assert 150_000 < n_points / span_s <= 200_000  # fired at 200k/s, a few lost to range and sky


def test_same_seed_same_bytes(session, tmp_path):
    generate_session(tmp_path / "again", SMALL)
    for name in ("raw.mcap", "ground_truth.tum", "session.json", "scene.ply"):
        assert (tmp_path / "again" / name).read_bytes() == (session / name).read_bytes(), name


def test_refuses_a_non_empty_folder(tmp_path):
    (tmp_path / "x").write_text("keep me")
    with pytest.raises(FileExistsError):
        generate_session(tmp_path, SMALL)
    assert (tmp_path / "x").read_text() == "keep me"


def test_the_external_imu_is_written_beside_the_lidar_imu(tmp_path):
    from drivers.sim.twin import EXTERNAL_IMU_RATE_HZ, T_LIDAR_EXTERNAL_IMU

    settings = SimSettings(
        scene="corridor", seed=1, duration_s=1.0, camera_rate_hz=0.0, external_imu=True
    )
    m = generate_session(tmp_path / "s", settings)
    assert m.stats["external_imu_samples"] == int(EXTERNAL_IMU_RATE_HZ)
    np.testing.assert_allclose(m.calibration.T_lidar_external_imu, T_LIDAR_EXTERNAL_IMU)
    ext = [f for _, f in read_frames(tmp_path / "s" / "raw.mcap", (rosmsg.EXTERNAL_IMU_TOPIC,))]
    assert len(ext) == int(EXTERNAL_IMU_RATE_HZ)
    at_rest = np.mean([f.accel_mps2 for f in ext], axis=0)
    assert 9.6 < np.linalg.norm(at_rest) < 10.0  # a better unit: a smaller turn-on bias
